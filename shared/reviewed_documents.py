"""Reviewed documents (the lead definition, the routing policy, the forms, the mappings):
YAML files and API bodies validated by pydantic, with every problem reported as
'field.path: reason', and in a file as 'file:line:column: field.path: reason'."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.document_locations import LocatedYaml, YamlProblem, describe, read_yaml

M = TypeVar("M", bound=BaseModel)


class DocumentError(ValueError):
    """A reviewed document is not valid: each kind has its own subclass, whose message says
    where and why."""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# every score and decision records the version that made it: it must say something
DOCUMENT_VERSION_MAX = 100  # the version columns of scoring.definitions and routing.policies
DocumentVersion = Annotated[str, Field(min_length=1, max_length=DOCUMENT_VERSION_MAX), AfterValidator(_not_blank)]


def problem(loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    """One problem at a field path, for a validator that reports several at once."""
    # the message goes through ctx so that braces in it (regexes) are not read as a template
    return InitErrorDetails(type=PydanticCustomError("document", "{problem}", {"problem": message}),
                            loc=loc, input=value)


def fail(title: str, problems: list[InitErrorDetails]) -> None:
    """Raise every problem at once, each at its own field path below the value being validated."""
    if problems:
        raise ValidationError.from_exception_data(title, problems)


def describe_errors(exc: ValidationError, model: type[BaseModel]) -> str:
    return "; ".join(f"{p.field}: {p.reason}" for p in (describe(e, model) for e in exc.errors()))


def parse_document(model: type[M], data: Any, origin: str, error: type[ValueError]) -> M:
    """``data`` as ``model``, or ``error`` saying '<origin> is invalid: path: reason; ...'."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{origin} is invalid: {describe_errors(exc, model)}") from None


def load_yaml_document(model: type[M], path: Path | str, error: type[ValueError]) -> M:
    """The file as ``model``, or ``error`` with one line per problem, each saying where it is:
    '<path> is invalid (2 problems):' then '  <path>:28:3: qualification.min_fitt: not a known
    field (did you mean 'min_fit'?)'."""
    path = Path(path)
    try:
        located = read_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path} cannot be read: {exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text: {exc}") from None
    except YamlProblem as exc:
        where = f"{path}" if exc.mark is None else f"{path}:{exc.mark.line}:{exc.mark.column}"
        raise error(f"{path} is invalid: {where}: {exc}") from None
    return parse_located(model, located, str(path), error)


def parse_located(model: type[M], located: LocatedYaml, origin: str, error: type[ValueError]) -> M:
    try:
        return model.model_validate(located.data)
    except ValidationError as exc:
        problems = [describe(e, model, located).located(origin) for e in exc.errors()]
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise error(f"{origin} is invalid ({count}):\n" + "\n".join(f"  {p}" for p in problems)) from None
