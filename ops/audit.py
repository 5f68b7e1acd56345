"""The audit log said in short lines (``ops audit``)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from ops.formatting import clock
from shared.access.audit import AuditEntry

_AGE = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (a zone is required) or an age: 30m, 6h, 7d."""
    text = text.strip()
    if match := _AGE.match(text):
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor an age like 30m, 6h or 7d") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or +01:00")
    return moment


def format_entry(entry: AuditEntry, *, full: bool = False) -> str:
    roles = f" ({','.join(entry.roles)})" if entry.roles else ""
    target = " ".join(f"{k}={v}" for k, v in entry.target.items())
    status = f" -> {entry.status}" if entry.status else ""
    line = (f"{clock(entry.at) if entry.at else '?'}  #{entry.audit_id}  {entry.actor}{roles} from "
            f"{entry.address or '?'}  {entry.service}: {entry.action}{' ' + target if target else ''}{status}")
    if not full:
        return line
    parts = [line]
    for name, value in (("request", entry.request), ("before", entry.before), ("after", entry.after)):
        if value is not None:
            parts.append(f"    {name}: {json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)}")
    return "\n".join(parts)
