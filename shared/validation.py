"""Rules every model that reads outside data follows, so nothing accepted can fail later
in PostgreSQL or in the JSON encoders: no NUL or other control characters in any text
(PostgreSQL's text and JSONB refuse NUL), and free-form JSON bounded in depth and size."""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_JSON_DEPTH = 8
MAX_JSON_BYTES = 16_384


def control_character(text: str) -> str | None:
    """A description of the first control character in ``text`` (tab and newlines are fine), or None."""
    found = _CONTROL.search(text)
    return None if found is None else f"contains the control character U+{ord(found.group()):04X}"


def _no_control_characters(text: str) -> str:
    problem = control_character(text)
    if problem:
        raise ValueError(problem)
    return text


SafeText = Annotated[str, AfterValidator(_no_control_characters)]
"""Text with no control characters other than tab and line breaks."""


def _problems(data: Any) -> list[InitErrorDetails]:
    """Every control character in ``data``'s texts and keys, at its path (iterative: any depth)."""
    found: list[InitErrorDetails] = []
    todo: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while todo and len(found) < 20:
        value, path = todo.pop()
        if isinstance(value, str):
            problem = control_character(value)
            if problem:
                found.append(_detail(path, problem, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and (problem := control_character(key)):
                    found.append(_detail((*path, key), f"key {problem}", key))
                todo.append((item, (*path, str(key))))
        elif isinstance(value, list | tuple):
            todo.extend((item, (*path, i)) for i, item in enumerate(value))
    return found


def _detail(path: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("text", "{problem}", {"problem": message}), loc=path,
                            input=value)


class CleanInput(BaseModel):
    """Base of request models and reviewed documents: every text anywhere in the input is
    checked for control characters, and each one found is reported at its field path."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters_anywhere(cls, data: Any) -> Any:
        found = _problems(data)
        if found:
            raise ValidationError.from_exception_data(cls.__name__, found)
        return data


def _json_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (iterative: any depth)."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        current, depth = todo.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, depth + 1)
            todo.extend((item, depth + 1) for item in (current.values() if isinstance(current, dict) else current))
    return deepest


def _bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    depth = _json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted")
    size = len(orjson.dumps(value))
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{size} bytes as JSON; at most {MAX_JSON_BYTES} are accepted")
    return value


BoundedJson = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
"""A free-form JSON object, at most MAX_JSON_DEPTH deep and MAX_JSON_BYTES long."""
