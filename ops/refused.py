"""Outbox rows Kafka refused for good, for the operator: a line each, the whole row, and
whether putting it back can work.

Pure functions over ``shared.outbox.refused.RefusedRow``s; ``ops.database`` reads and
changes them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ops.formatting import clock, error_summary
from shared.events.codec import Event, UndecodableEvent, decode
from shared.kafka.producer import MAX_RECORD_BYTES
from shared.outbox.refused import RefusedRow


@dataclass(frozen=True)
class ServiceRefused:
    """A refused row and the service whose outbox it left (ids are per service)."""

    service: str
    row: RefusedRow

    @property
    def lead_id(self) -> str | None:
        return self.row.key.decode(errors="replace") if self.row.key is not None else None

    @property
    def event_type(self) -> str | None:
        value = self.row.headers.get("type")
        return str(value) if value is not None else None

    @property
    def too_large(self) -> bool:
        """Larger than the producer sends: the relay would refuse it again, whatever the broker allows."""
        return self.row.size > MAX_RECORD_BYTES

    def event(self) -> tuple[Event | None, str | None]:
        try:
            return decode(self.row.value), None
        except UndecodableEvent as exc:
            return None, str(exc)

    def summary(self) -> str:
        """One line: which row, what it holds, when and why it was refused."""
        what = f"{self.event_type or 'event'} of lead {self.lead_id or '-'}"
        return (f"{self.service} refused row {self.row.id}: {what} to {self.row.topic} ({self.row.size} bytes), "
                f"refused at {clock(self.row.refused_at)}: {error_summary(self.row.reason, 100)}")


LIST_HEADERS = ["service", "id", "outbox_id", "topic", "event", "lead", "bytes", "created_at", "refused_at",
                "reason"]


def refused_rows(items: list[ServiceRefused]) -> list[list[Any]]:
    """Rows for `refused list`."""
    return [[i.service, i.row.id, i.row.outbox_id, i.row.topic, i.event_type or "-", i.lead_id or "-", i.row.size,
             clock(i.row.created_at), clock(i.row.refused_at), error_summary(i.row.reason, 70)] for i in items]


def refused_to_dict(item: ServiceRefused, *, full: bool = False) -> dict[str, Any]:
    """The row for --json; ``full`` adds the value (decoded when it is an event, else base64)."""
    row = item.row
    data: dict[str, Any] = {
        "service": item.service, "id": row.id, "outbox_id": row.outbox_id, "topic": row.topic,
        "lead_id": item.lead_id, "event_type": item.event_type, "headers": row.headers, "bytes": row.size,
        "too_large": item.too_large, "created_at": row.created_at.isoformat(),
        "refused_at": row.refused_at.isoformat(), "reason": row.reason,
    }
    if full:
        event, problem = item.event()
        data["event"] = event.envelope.model_dump(mode="json") if event else None
        data["decode_error"] = problem
        data["value_b64"] = None if event else base64.b64encode(row.value).decode()
    return data


def format_refused(item: ServiceRefused) -> str:
    """`refused show`: every field, the whole reason, the event decoded (or its start, raw)."""
    row = item.row
    lines = [
        f"{item.service} refused row {row.id}  (outbox row {row.outbox_id})",
        f"topic        {row.topic}",
        f"lead         {item.lead_id or '-'}",
        f"event        {item.event_type or '-'}",
        f"size         {row.size} bytes (the producer sends at most {MAX_RECORD_BYTES})",
        f"written at   {clock(row.created_at)}",
        f"refused at   {clock(row.refused_at)}",
        f"headers      {json.dumps(row.headers, ensure_ascii=False)}",
        "reason:",
        *("  " + line for line in row.reason.splitlines() or [""]),
    ]
    event, problem = item.event()
    if event is not None:
        body = json.dumps(event.envelope.model_dump(mode="json"), indent=2, ensure_ascii=False)
        if len(body) > 4000:
            body = body[:4000] + f"\n… ({len(body) - 4000} more characters; --json has it all)"
        lines += ["event:", body]
    else:
        raw = row.value[:400].decode(errors="replace")
        lines += [f"value, not a decodable event ({error_summary(problem, 100)}):", raw]
    return "\n".join(lines)


class ReplayRefused(ValueError):
    """Putting the row back cannot work; the message says why and what to do instead."""


def check_replay(item: ServiceRefused) -> None:
    """Raise ReplayRefused for a row the relay would refuse again before it reaches the broker."""
    if item.too_large:
        raise ReplayRefused(
            f"{item.service} refused row {item.row.id} is {item.row.size} bytes, larger than the producer sends "
            f"({MAX_RECORD_BYTES} bytes, shared.kafka.producer.MAX_RECORD_BYTES): the relay would refuse it "
            f"again. Discard it instead: ops refused discard {item.service} {item.row.id}"
        )
