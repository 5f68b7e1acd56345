"""Reviewed documents (the lead definition, the routing policy): YAML files and API
bodies validated by pydantic, with every problem reported as 'field.path: reason'."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

M = TypeVar("M", bound=BaseModel)


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


def describe_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )


def parse_document(model: type[M], data: Any, origin: str, error: type[ValueError]) -> M:
    """``data`` as ``model``, or ``error`` saying '<origin> is invalid: path: reason; ...'."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{origin} is invalid: {describe_errors(exc)}") from None


def load_yaml_document(model: type[M], path: Path | str, error: type[ValueError]) -> M:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path} is not valid YAML: {exc}") from None
    return parse_document(model, data, str(path), error)
