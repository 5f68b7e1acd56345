"""Where each field of a reviewed YAML file is written, so that a problem in it can be told
as ``file:line:column: field: reason (value); did you mean 'key'?`` and whoever edits the
file goes straight to the line. Also refuses what YAML would silently accept: a key written
twice (the later one would win unseen) and aliases (a small file could expand to gigabytes).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

Loc = tuple[str | int, ...]
VALUE_SHOWN_MAX = 60


@dataclass(frozen=True)
class Mark:
    """1-based, as editors count."""

    line: int
    column: int

    @classmethod
    def of(cls, node: yaml.Node) -> Mark:
        return cls(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass
class LocatedYaml:
    data: Any
    marks: dict[Loc, Mark] = field(default_factory=dict)
    """Where each value starts, by its field path; a mapping entry's path points at its key."""

    def mark_of(self, loc: Loc) -> Mark | None:
        """The mark of ``loc``, or of its nearest written ancestor (a missing field is reported
        where its parent is). Path parts the file cannot hold (a union's tag in pydantic's
        error path) are skipped."""
        path: Loc = ()
        for part in loc:
            if path + (part,) in self.marks:
                path = path + (part,)
            elif isinstance(part, str) and part.isdigit() and path + (int(part),) in self.marks:
                path = path + (int(part),)
        return self.marks.get(path)


class YamlProblem(ValueError):
    """The text is not YAML the documents accept; ``mark`` says where."""

    def __init__(self, message: str, mark: Mark | None) -> None:
        super().__init__(message)
        self.mark = mark


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML: Parser.peek_event is unannotated
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", event.start_mark)
        return super().compose_node(parent, index)


def read_yaml(text: str | bytes) -> LocatedYaml:
    """Parse ``text`` safely, keeping where each field is; YamlProblem for bad YAML, an alias or a
    key written twice."""
    try:
        loader = _NoAliasLoader(text)  # reads the encoding at once: bad bytes fail here
        try:
            node = loader.get_single_node()
            if node is None:
                return LocatedYaml(None)
            located = LocatedYaml(None)
            _walk(node, (), located.marks)
            located.data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = None if mark is None else Mark(mark.line + 1, mark.column + 1)
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        raise YamlProblem(f"not valid YAML: {reason}", where) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}", None) from None
    except RecursionError:
        raise YamlProblem("not valid YAML: nested too deeply", None) from None
    return located


def _walk(node: yaml.Node, path: Loc, marks: dict[Loc, Mark]) -> None:
    marks.setdefault(path, Mark.of(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if key in seen:
                first = seen[key]
                raise YamlProblem(f"{_dotted(path + (key,))}: written twice (first at line {first.line}); "
                                  "YAML would keep only the later one", Mark.of(key_node))
            seen[key] = Mark.of(key_node)
            marks[path + (key,)] = Mark.of(key_node)
            if key_node.tag.endswith(":int") and key.lstrip("-").isdigit():
                marks[path + (int(key),)] = Mark.of(key_node)
            _walk(value_node, path + (key,), marks)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), marks)


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str
    mark: Mark | None = None

    def located(self, origin: str) -> str:
        where = origin if self.mark is None else f"{origin}:{self.mark.line}:{self.mark.column}"
        return f"{where}: {self.field}: {self.reason}"


def describe(error: Mapping[str, Any], model: type[BaseModel], located: LocatedYaml | None = None) -> Problem:
    """One pydantic error: the field path, the reason with the bad value (or, for an unknown
    key, the nearest known one), and where the file has it."""
    loc: Loc = tuple(error["loc"])
    reason = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        reason = "not a known field"
        known = known_keys(model, loc[:-1])
        if known and isinstance(loc[-1], str):
            close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
            reason += f" (did you mean {close[0]!r}?)" if close else f" (known here: {', '.join(known)})"
    elif (shown := _shown(error.get("input"))) is not None and error["type"] != "missing":
        reason += f" (got {shown})"
    return Problem(_dotted(loc), reason, None if located is None else located.mark_of(loc))


def _shown(value: Any) -> str | None:
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return text if len(text) <= VALUE_SHOWN_MAX else text[: VALUE_SHOWN_MAX - 3] + "..."
    return None


def known_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names a document may hold at ``loc`` (by alias where a field has one); empty
    when the path leads nowhere the models say."""
    kinds: list[Any] = [model]
    for part in loc:
        following = [inner for kind in kinds for option in _options(kind) for inner in _inner(option, part)]
        if following:
            kinds = following  # else: a union's tag in pydantic's path; the same place
    names: list[str] = []
    for kind in kinds:
        for option in _options(kind):
            if isinstance(option, type) and issubclass(option, BaseModel):
                names += [info.alias or name for name, info in option.model_fields.items()]
    return sorted(set(names))


def _options(kind: Any) -> list[Any]:
    """``kind`` without Annotated and Optional; each member of a union."""
    origin = get_origin(kind)
    if origin is Annotated:
        return _options(get_args(kind)[0])
    if origin is Union or isinstance(kind, types.UnionType):
        return [option for arg in get_args(kind) for option in _options(arg)]
    return [kind]


def _inner(kind: Any, part: str | int) -> list[Any]:
    if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(part, str):
        for name, info in kind.model_fields.items():
            if part in (name, info.alias):
                return [info.annotation]
        return []
    origin, args = get_origin(kind), get_args(kind)
    if origin in (dict, Mapping) and len(args) == 2:
        return [args[1]]
    if origin in (list, tuple, set, frozenset, Sequence) and args and isinstance(part, int):
        return [args[0]]
    return []
