"""A lead's story from the feedback service (`GET /leads/{id}/timeline`), told in short lines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from ops import defaults
from ops.database import lead_id_key, lead_id_now
from ops.defaults import FEEDBACK_URL_ENV, TOKEN_ENV
from ops.errors import UNREACHABLE, OpsError
from ops.formatting import clock, event_facts, qualification, rules_short
from shared.events.payloads import LeadRouted, LeadScored
from shared.identity import lead_id_for
from shared.identity_policy import load_identity_policy
from shared.settings import REPO_CONFIG_DIR


def resolve_lead(text: str, database_url: str | None = None, *, key: bytes | None = None) -> uuid.UUID:
    """A lead id as given, or the id an email address's person derives to (by the identity rules
    in the repository's config/, as the services read them, and the installation's lead id key,
    read from the database: an email alone gives no id). After the person was erased, the
    address names their next lead (its generation, read from the erasure register)."""
    text = text.strip()
    if "@" in text:
        try:
            policy = load_identity_policy(REPO_CONFIG_DIR)
        except ValueError as exc:
            raise OpsError(str(exc)) from None
        from_database = key is None
        if key is None:
            key = asyncio.run(lead_id_key(defaults.database_url(database_url)))
        try:
            root = lead_id_for(text, policy, key=key)
        except ValueError as exc:
            raise OpsError(f"{text!r} is {exc}") from None
        if not from_database:
            return root
        return asyncio.run(lead_id_now(defaults.database_url(database_url), text,
                                       lambda email, n: lead_id_for(email, policy, key=key, generation=n)))
    try:
        return uuid.UUID(text)
    except ValueError:
        raise OpsError(f"{text!r} is neither a lead id (UUID) nor an email address") from None


def fetch_timeline(feedback_url: str, lead_id: uuid.UUID, *, token: str | None, asked: str | None = None,
                   timeout_s: float = 10.0) -> dict[str, Any]:
    url = f"{feedback_url}/leads/{lead_id}/timeline"
    if token is None:
        raise OpsError(f"a timeline holds personal data: pass a viewer's token with --token or {TOKEN_ENV} "
                       "(./handoff tokens create NAME --roles viewer; the local stack's are in its secrets file)")
    try:
        response = httpx.get(url, timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})
    except httpx.TransportError as exc:
        raise OpsError(
            f"cannot reach the feedback service at {feedback_url} ({type(exc).__name__}): start the stack "
            f"(./handoff up) or pass --feedback-url URL / set {FEEDBACK_URL_ENV}",
            exit_code=UNREACHABLE,
        ) from None
    if response.status_code in (401, 403):
        raise OpsError(f"the feedback service refused the token: {response.json().get('detail', response.text[:200])}")
    if response.status_code == 404:
        which = f"{lead_id} ({asked})" if asked and asked != str(lead_id) else str(lead_id)
        raise OpsError(f"the feedback service at {feedback_url} knows nothing about lead {which} (yet)")
    if response.status_code != 200:
        raise OpsError(f"GET {url} answered {response.status_code}: {response.text[:200]}")
    timeline: dict[str, Any] = response.json()  # the feedback service's timeline object
    return timeline


def _routed_lines(p: Mapping[str, Any]) -> list[str]:
    decision = p.get("decision") or {}
    owner = f"{p.get('owner_id')} ({p['owner_name']})" if p.get("owner_name") else str(p.get("owner_id"))
    where = [f"team {p['team_id']}" if p.get("team_id") else None,
             f"rule {p.get('rule')}" if p.get("rule") else None,
             f"via {decision['via']}" if decision.get("via") else None,
             p.get("strategy"), f"policy {p.get('policy_version')}"]
    lines = [f"-> {owner}: " + ", ".join(w for w in where if w)]
    if p.get("reassigned_from"):
        lines.append(f"reassigned from {p['reassigned_from']}")
    lines.append(f"why: {p.get('reason') or decision.get('reason')}")
    checks = [f"{c.get('rule')} ({'matched' if c.get('matched') else c.get('failed')})"
              for c in decision.get("rules") or []]
    if checks:
        lines.append("rules tried: " + ", ".join(checks))
    candidates = []
    for c in decision.get("candidates") or []:
        note = "chosen" if c.get("chosen") else (f"skipped: {c['skipped']}" if c.get("skipped") else "")
        candidates.append(f"{c.get('owner_id')} ({note})" if note else str(c.get("owner_id")))
    if candidates:
        lines.append("candidates: " + ", ".join(candidates))
    due = p.get("sla_due_at") or decision.get("accept_by")
    if due:
        sla = f" ({decision['sla_minutes']} min SLA)" if decision.get("sla_minutes") is not None else ""
        lines.append(f"accept by {clock(due)}{sla}")
    return lines


def _scored_lines(p: Mapping[str, Any]) -> list[str]:
    return [
        f"score {p.get('score')}/{p.get('threshold')} (fit {p.get('fit_score')}, engagement "
        f"{p.get('engagement_score')}) grade {p.get('grade') or '-'}, stage {p.get('stage')}, {qualification(p)}; "
        f"trigger {p.get('trigger')}, definition {p.get('definition_version')}",
        f"rules: {rules_short(p.get('rules_fired'))}",
    ]


def event_lines(event: Mapping[str, Any]) -> list[str]:
    """One timeline event: a heading line, then its facts indented."""
    payload = event.get("payload") or {}
    kind = event.get("type", "?")
    if kind == LeadScored.event_type:
        body = _scored_lines(payload)
    elif kind == LeadRouted.event_type:
        body = _routed_lines(payload)
    else:
        body = [event_facts(kind, payload)]
    head = f"{clock(event.get('occurred_at'))}  {kind}  (by {event.get('producer')})"
    return [head, *("    " + line for line in body if line)]


def format_timeline(data: Mapping[str, Any], *, asked: str | None = None) -> str:
    events = data.get("events") or []
    who = f"lead {data.get('lead_id')}" + (f" ({asked})" if asked and asked != data.get("lead_id") else "")
    labels = {"stage": "stage", "cycle": "cycle", "owner_id": "owner"}
    state = ", ".join(f"{label} {data[k]}" for k, label in labels.items() if data.get(k) is not None)
    lines = [f"{who}: {state or 'no stage yet'}; {len(events)} event{'s' if len(events) != 1 else ''}", ""]
    for event in events:
        lines += event_lines(event)
    return "\n".join(lines)
