"""`./handoff privacy export`: everything every service holds about one person, as one JSON
document (GDPR article 15, CCPA's right to know); `./handoff privacy erase`: forget them in
every service (article 17, the right to delete), following each service until it is done.
Both with a token that has the privacy role."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer

from ops import defaults
from ops.errors import UNREACHABLE, OpsError

SERVICES = ("intake", "scoring", "routing", "feedback")

app = typer.Typer(no_args_is_help=True,
                  help="A person's data: export (one JSON document from every service) and erase.")


@app.callback()
def privacy() -> None:
    """A person's data, for a token with the privacy role."""  # a group, so `privacy export` reads as it should


def person_body(person: str) -> dict[str, str]:
    """An email goes as one (each service derives the id with the installation's key), an id as one."""
    person = person.strip()
    if "@" in person:
        return {"email": person}
    try:
        return {"lead_id": str(uuid.UUID(person))}
    except ValueError:
        raise OpsError(f"{person!r} is neither an email address nor a lead id (UUID)") from None


def _needs(token: str | None, what: str) -> str:
    if token is None:
        raise OpsError(f"{what}: pass a token with the privacy role (--token or {defaults.TOKEN_ENV}; "
                       "./handoff tokens create NAME --roles privacy)")
    return token


def _call(service: str, base: str, method: str, path: str, *, token: str, body: dict[str, Any] | None = None,
          ok: tuple[int, ...] = (200,), timeout_s: float = 30.0) -> dict[str, Any]:
    url = f"{base}{path}"
    try:
        response = httpx.request(method, url, json=body, timeout=timeout_s,
                                 headers={"Authorization": f"Bearer {token}"})
    except httpx.TransportError as exc:
        raise OpsError(f"cannot reach {service} at {base} ({type(exc).__name__}): start the stack or "
                       f"pass --{service}-url / set HANDOFF_{service.upper()}_URL", exit_code=UNREACHABLE) from None
    if response.status_code in (401, 403):
        raise OpsError(f"{service} refused the token: {response.json().get('detail', response.text[:200])}")
    if response.status_code not in ok:
        raise OpsError(f"{service}: {method} {url} answered {response.status_code}: {response.text[:300]}")
    answer: dict[str, Any] = response.json()
    return answer


def export_person(person: str, *, token: str | None, urls: dict[str, str], timeout_s: float = 30.0) -> dict[str, Any]:
    token = _needs(token, "an export holds personal data")
    body = person_body(person)
    parts: dict[str, Any] = {}
    for service in SERVICES:
        parts[service] = _call(service, urls[service], "POST", "/privacy/exports", token=token, body=body,
                               timeout_s=timeout_s)
    lead_ids = {part["lead_id"] for part in parts.values()}
    if len(lead_ids) != 1:  # the services disagree on who this is: never hand over a mix
        raise OpsError(f"the services name different lead ids for this person: {sorted(lead_ids)}")
    return {"lead_id": lead_ids.pop(), "exported_at": datetime.now(UTC).isoformat(),
            "services": {service: part["tables"] for service, part in parts.items()}}


def erase_person(person: str, *, token: str | None, intake_url: str, wait_s: float = 120.0,
                 on_progress: Callable[[dict[str, Any]], None] = lambda _: None,
                 poll_s: float = 0.5) -> dict[str, Any]:
    """Asks intake (which records the erasure and sends it to every service), then follows it
    until every service has erased its part or ``wait_s`` passed (then it says who is left)."""
    token = _needs(token, "an erasure is for the privacy role")
    erasure = _call("intake", intake_url, "POST", "/privacy/erasures", token=token, body=person_body(person),
                    ok=(200, 202))
    on_progress(erasure)
    deadline = time.monotonic() + wait_s
    while erasure["status"] != "erased":
        if time.monotonic() >= deadline:
            raise OpsError(f"erasure {erasure['erasure_id']} is recorded and lead {erasure['lead_id']} is dead "
                           f"already, but {', '.join(erasure['waiting_for'])} did not finish within {wait_s:.0f} s; "
                           f"they finish when they run again: ./handoff privacy erasure {erasure['erasure_id']}")
        time.sleep(poll_s)
        seen = len(erasure["finished"])
        erasure = _call("intake", intake_url, "GET", f"/privacy/erasures/{erasure['erasure_id']}", token=token)
        if len(erasure["finished"]) != seen:
            on_progress(erasure)
    return erasure


def _progress_line(erasure: dict[str, Any]) -> str:
    done = ", ".join(f"{s} ({sum(p['rows'].values())} rows)" for s, p in sorted(erasure["finished"].items()))
    waiting = ", ".join(erasure["waiting_for"]) or "nobody"
    return f"erasure {erasure['erasure_id']} of lead {erasure['lead_id']}: done {done or 'nowhere yet'}; " \
           f"waiting for {waiting}"


def _url_option(service: str) -> Any:
    return typer.Option(None, f"--{service}-url", metavar="URL",
                        help=f"The {service} service [default: $HANDOFF_{service.upper()}_URL, "
                             "else the local stack's].")


@app.command()
def export(
    person: str = typer.Argument(..., metavar="EMAIL_OR_LEAD_ID", help="Any spelling of the address, or the lead id."),
    token: str | None = typer.Option(None, "--token", metavar="TOKEN",
                                     help=f"A token with the privacy role [default: ${defaults.TOKEN_ENV}]."),
    out: Path | None = typer.Option(None, "--out", help="Write the document here (mode 0600) instead of stdout."),
    intake_url: str | None = _url_option("intake"),
    scoring_url: str | None = _url_option("scoring"),
    routing_url: str | None = _url_option("routing"),
    feedback_url: str | None = _url_option("feedback"),
) -> None:
    """One JSON document: the person's profile, submissions, activities, scores, decisions,
    outcomes and timeline, as every service holds them; the export is in the audit log."""
    urls = {"intake": intake_url, "scoring": scoring_url, "routing": routing_url, "feedback": feedback_url}
    try:
        document = export_person(person, token=defaults.token(token),
                                 urls={s: defaults.service_url(s, u) for s, u in urls.items()})
    except OpsError as exc:
        typer.echo(f"privacy: error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True)
    if out is None:
        typer.echo(text)
        return
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    rows = sum(len(rows) for tables in document["services"].values() for rows in tables.values())
    typer.echo(f"exported {rows} rows about lead {document['lead_id']} to {out}", err=True)


_TOKEN = typer.Option(None, "--token", metavar="TOKEN",
                      help=f"A token with the privacy role [default: ${defaults.TOKEN_ENV}].")


@app.command()
def erase(
    person: str = typer.Argument(..., metavar="EMAIL_OR_LEAD_ID", help="Any spelling of the address, or the lead id."),
    token: str | None = _TOKEN,
    wait: float = typer.Option(120.0, "--wait", min=0, max=3600, metavar="SECONDS",
                               help="How long to follow the services before returning."),
    intake_url: str | None = _url_option("intake"),
) -> None:
    """Forget the person everywhere: their lead id is dead at once (no event about it is acted
    on again), and every service anonymises what it holds, keeping the counts reports need. A
    later lead with the same address starts fresh. Asking again answers the first erasure."""
    try:
        done = erase_person(person, token=defaults.token(token), intake_url=defaults.service_url("intake", intake_url),
                            wait_s=wait, on_progress=lambda e: typer.echo(_progress_line(e), err=True))
    except OpsError as exc:
        typer.echo(f"privacy: error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    typer.echo(json.dumps(done, indent=2, sort_keys=True))


@app.command()
def erasure(
    erasure_id: uuid.UUID = typer.Argument(..., metavar="ERASURE_ID"),
    token: str | None = _TOKEN,
    intake_url: str | None = _url_option("intake"),
) -> None:
    """How far an erasure is, service by service."""
    try:
        found = _call("intake", defaults.service_url("intake", intake_url), "GET", f"/privacy/erasures/{erasure_id}",
                      token=_needs(defaults.token(token), "an erasure is for the privacy role"), ok=(200,))
    except OpsError as exc:
        typer.echo(f"privacy: error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    typer.echo(_progress_line(found), err=True)
    typer.echo(json.dumps(found, indent=2, sort_keys=True))
