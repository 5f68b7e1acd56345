"""Pure text for the terminal: no I/O here, so every line the tool prints is unit-tested."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.events.payloads import (
    ActivityRecorded,
    LeadCaptured,
    LeadNurtured,
    LeadRouted,
    LeadScored,
    OutcomeRecorded,
    SlaBreached,
)
from shared.kafka.overview import TopicOverview

_SPACES = re.compile(r"\s+")


def shorten(text: str | None, width: int = 80) -> str:
    """One line of at most ``width`` characters: whitespace collapsed, an ellipsis if cut."""
    flat = _SPACES.sub(" ", text or "").strip()
    if len(flat) <= width:
        return flat
    return flat[: max(width - 1, 0)].rstrip() + "…"


_ERROR_NOISE = (
    re.compile(r"\[SQL: .*", re.S),  # SQLAlchemy: the statement, its parameters and the link after them
    re.compile(r"\(Background on this error at: [^)]*\)"),
    re.compile(r"\((?:sqlalchemy|asyncpg)\.[\w.]+\)\s*"),  # driver wrapper names
    re.compile(r"<class '[\w.]+'>:\s*"),
    re.compile(r"For further information visit \S+"),  # pydantic
    re.compile(r"\[type=[^\]]*\]"),
)


def error_summary(error: str | None, width: int = 80) -> str:
    """The gist of an error on one line: the message without the SQL statement and its
    parameters, driver wrapper names or documentation links."""
    text = error or ""
    for noise in _ERROR_NOISE:
        text = noise.sub(" ", text)
    return shorten(text, width)


def clock(value: datetime | str | None) -> str:
    """ISO 8601 in UTC to the millisecond, the one time format of every line."""
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        value = parsed
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Sequence[int] = (),
          indent: str = "") -> list[str]:
    """Columns padded to their widest cell; the columns in ``right`` are right-aligned (numbers)."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append((indent + "  ".join(parts)).rstrip())
    return lines


# -- topics ---------------------------------------------------------------------------

def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_overview(ov: TopicOverview) -> str:
    """The `ops topics` screen: one summary table, then one lag table per consumed topic."""
    sampled = f"rates over {ov.interval_s:.1f} s" if ov.interval_s else "one sample, no rates"
    lines = [f"Kafka {ov.bootstrap} at {clock(ov.sampled_at)} ({sampled})", ""]
    lines += table(
        ["topic", "partitions", "end offsets", "retained", "msg/s", "lag"],
        [[t.name, t.partitions, t.end_offsets, t.messages, _rate(t.messages_per_s),
          t.lag if t.groups else "-"] for t in ov.topics],
        right=(1, 2, 3, 4, 5),
    )
    for t in ov.topics:
        if not t.groups:
            continue
        lines += ["", f"{t.name}"]
        rows = []
        for g in t.groups:
            for i, p in enumerate(g.partitions):
                rows.append([g.group if i == 0 else "", p.partition, p.committed, p.end_offset, p.lag])
            rows.append(["", "all", "", sum(p.end_offset for p in g.partitions), g.lag])
        lines += table(["group", "partition", "committed", "end", "lag"], rows, right=(1, 2, 3, 4), indent="  ")
    lines.append("")
    if ov.dead_letter_depth is None:
        lines.append(f"dead letters: topic {ov.dead_letter_topic} does not exist")
    elif ov.dead_letter_depth:
        lines.append(f"dead letters: {ov.dead_letter_depth} on {ov.dead_letter_topic} "
                     "(see: ops dead-letters list)")
    else:
        lines.append(f"dead letters: none on {ov.dead_letter_topic}")
    return "\n".join(lines)


# -- events ---------------------------------------------------------------------------

def _pairs(payload: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    return [f"{n}={payload[n]}" for n in names if payload.get(n) not in (None, "", [], {})]


def rules_short(rules: Sequence[Mapping[str, Any]] | None) -> str:
    """Fired scoring rules as 'decision_maker +20, free_mail -30'."""
    return ", ".join(f"{r.get('rule')} {int(r.get('points', 0)):+d}" for r in rules or []) or "none"


def qualification(scored: Mapping[str, Any]) -> str:
    """'qualified (new)' on the one score per cycle that first reached MQL, else qualified or not;
    'by hand' when a person's judgement call decided it."""
    by_hand = " by hand" if scored.get("judgement") else ""
    if not scored.get("qualified"):
        return f"not qualified{by_hand}"
    return f"qualified{by_hand} (new)" if scored.get("newly_qualified") else f"qualified{by_hand}"


def event_facts(event_type: str, payload: Mapping[str, Any]) -> str:
    """The few facts of a payload an operator looks for, per event type."""
    p = payload
    if event_type == LeadCaptured.event_type:
        return " ".join(_pairs(p, ["email", "source", "company", "job_title", "company_size", "country"]))
    if event_type == ActivityRecorded.event_type:
        return " ".join(_pairs(p, ["email", "activity_type", "source"]))
    if event_type == LeadScored.event_type:
        head = (f"score {p.get('score')}/{p.get('threshold')} grade {p.get('grade') or '-'} "
                f"stage {p.get('stage')} {qualification(p)}")
        return " ".join([head, *_pairs(p, ["trigger", "cycle", "definition_version"]),
                         f"rules: {rules_short(p.get('rules_fired'))}"])
    if event_type == LeadRouted.event_type:
        owner = p.get("owner_id")
        if p.get("owner_name"):
            owner = f"{owner} ({p['owner_name']})"
        return " ".join([f"-> {owner}", *_pairs(p, ["team_id", "rule", "strategy", "cycle", "reassigned_from"]),
                         f"reason: {p.get('reason')}"])
    if event_type == LeadNurtured.event_type:
        return " ".join([*_pairs(p, ["email", "cycle", "score"]), f"reason: {p.get('reason')}"])
    if event_type == OutcomeRecorded.event_type:
        return " ".join(_pairs(p, ["outcome", "cycle", "reason", "owner_id", "amount", "currency"]))
    if event_type == SlaBreached.event_type:
        return " ".join(_pairs(p, ["owner_id", "action", "breaches", "due_at", "cycle"]))
    scalars = [k for k, v in p.items() if isinstance(v, str | int | float | bool)]
    return " ".join(_pairs(p, scalars[:5]))
