"""What changed between two versions of a reviewed document, field by field (pure).

Lists whose items carry an ``id`` (owners, teams, queues) or a ``name`` (rules) are
compared by that key, so inserting a rule reads as one rule added, not as every later rule
changed; the path names the item: ``rules[enterprise_emea].conditions.0.value``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

KEYS = ("id", "name")
ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class FieldChange:
    field: str
    change: ChangeKind
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "change": self.change, "before": self.before, "after": self.after}


def diff(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Every field that differs, in document order; an empty list when the two are the same."""
    if isinstance(before, dict) and isinstance(after, dict):
        return _diff_entries(before, after, lambda key: f"{path}.{key}" if path else str(key))
    if isinstance(before, list) and isinstance(after, list):
        key = _item_key(before, after)
        if key is not None:
            return _diff_keyed(before, after, key, path)
        changes = [change for i, (b, a) in enumerate(zip(before, after, strict=False))
                   for change in diff(b, a, f"{path}.{i}")]
        changes += [FieldChange(f"{path}.{i}", "removed", before=b) for i, b in enumerate(before) if i >= len(after)]
        changes += [FieldChange(f"{path}.{i}", "added", after=a) for i, a in enumerate(after) if i >= len(before)]
        return changes
    if before == after and type(before) is type(after):
        return []
    return [FieldChange(path or "(top level)", "changed", before=before, after=after)]


def _diff_entries(before: dict[Any, Any], after: dict[Any, Any], field_of: Callable[[Any], str]) -> list[FieldChange]:
    """Entries of two mappings, compared by key in the first one's order, then the new keys."""
    changes: list[FieldChange] = []
    for key in [*before, *(k for k in after if k not in before)]:
        field = field_of(key)
        if key not in after:
            changes.append(FieldChange(field, "removed", before=before[key]))
        elif key not in before:
            changes.append(FieldChange(field, "added", after=after[key]))
        else:
            changes += diff(before[key], after[key], field)
    return changes


def _item_key(before: list[Any], after: list[Any]) -> str | None:
    """The key every item of both lists has, unique within each list."""
    items = before + after
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in KEYS:
        if all(isinstance(item.get(key), str) for item in items) and all(
                len({item[key] for item in side}) == len(side) for side in (before, after)):
            return key
    return None


def _diff_keyed(before: list[dict[str, Any]], after: list[dict[str, Any]], key: str, path: str) -> list[FieldChange]:
    old = {item[key]: item for item in before}
    new = {item[key]: item for item in after}
    changes = _diff_entries(old, new, lambda name: f"{path}[{name}]")
    order_before = [n for n in old if n in new]
    order_after = [n for n in new if n in old]
    if order_before != order_after:  # rules are tried in order: a move changes decisions
        changes.append(FieldChange(f"{path}.order", "changed", before=list(old), after=list(new)))
    return changes
