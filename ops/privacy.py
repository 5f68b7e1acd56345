"""`./handoff privacy export`: everything every service holds about one person, as one JSON
document (GDPR article 15, CCPA's right to know), with a token that has the privacy role."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer

from ops import defaults
from ops.errors import UNREACHABLE, OpsError

SERVICES = ("intake", "scoring", "routing", "feedback")

app = typer.Typer(no_args_is_help=True, help="A person's data: export (one JSON document from every service).")


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


def export_person(person: str, *, token: str | None, urls: dict[str, str], timeout_s: float = 30.0) -> dict[str, Any]:
    if token is None:
        raise OpsError(f"an export holds personal data: pass a token with the privacy role (--token or "
                       f"{defaults.TOKEN_ENV}; ./handoff tokens create NAME --roles privacy)")
    body = person_body(person)
    parts: dict[str, Any] = {}
    for service in SERVICES:
        url = f"{urls[service]}/privacy/exports"
        try:
            response = httpx.post(url, json=body, timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError as exc:
            raise OpsError(f"cannot reach {service} at {urls[service]} ({type(exc).__name__}): start the stack or "
                           f"pass --{service}-url / set HANDOFF_{service.upper()}_URL", exit_code=UNREACHABLE) from None
        if response.status_code in (401, 403):
            raise OpsError(f"{service} refused the token: {response.json().get('detail', response.text[:200])}")
        if response.status_code != 200:
            raise OpsError(f"{service}: POST {url} answered {response.status_code}: {response.text[:300]}")
        parts[service] = response.json()
    lead_ids = {part["lead_id"] for part in parts.values()}
    if len(lead_ids) != 1:  # the services disagree on who this is: never hand over a mix
        raise OpsError(f"the services name different lead ids for this person: {sorted(lead_ids)}")
    return {"lead_id": lead_ids.pop(), "exported_at": datetime.now(UTC).isoformat(),
            "services": {service: part["tables"] for service, part in parts.items()}}


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
