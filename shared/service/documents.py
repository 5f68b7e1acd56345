"""Reviewed documents (a lead definition, a routing policy) posted as JSON or YAML.

The route declares the body in its OpenAPI (``document_body_openapi``) so clients and
fuzzers can send it, and reads it with ``document_body``: JSON, or YAML when the
Content-Type says so. YAML is read safely and without aliases (an alias can expand a small
body into gigabytes); a problem is a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import orjson
import yaml
from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import InvalidInput
from shared.service.errors import field_errors

M = TypeVar("M", bound=BaseModel)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML: Parser.peek_event is unannotated
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(raw: bytes | str) -> Any:
    return yaml.load(raw, Loader=_NoAliasLoader)


def is_yaml(content_type: str | None) -> bool:
    return any(kind in (content_type or "").lower() for kind in YAML_TYPES)


def parse_document(raw: bytes, content_type: str | None, model: type[M]) -> M:
    """``raw`` as ``model``; InvalidInput names the field, or 'body' when it cannot be read."""
    try:
        data = load_yaml(raw) if is_yaml(content_type) else orjson.loads(raw)
    except (yaml.YAMLError, orjson.JSONDecodeError, RecursionError, UnicodeDecodeError) as exc:
        kind = "YAML" if is_yaml(content_type) else "JSON"
        raise InvalidInput.one("body", f"not valid {kind}: {str(exc).splitlines()[0][:300]}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput([(p["field"], p["reason"]) for p in field_errors(exc)]) from None


def document_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency: the request body as ``model``."""

    async def read(request: Request) -> M:
        return parse_document(await request.body(), request.headers.get("content-type"), model)

    read.__name__ = f"{model.__name__.lower()}_body"
    return read


def document_body_openapi(model: type[BaseModel], *, yaml_too: bool = True,
                          description: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` declaring the body the route reads itself; the schema is the model's,
    added to the components by ``build_app(body_models=...)``."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if yaml_too:
        content["application/yaml"] = {"schema": schema}
    body: dict[str, Any] = {"required": True, "content": content}
    if description:
        body["description"] = description
    return {"requestBody": body}


class PublishedVersion(BaseModel):
    """One published version of a reviewed document; one of them is active."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": "2026-12-02.1", "published_at": "2026-12-02T09:00:00Z", "published_by": "config file",
         "active": True}]})

    version: str
    published_at: datetime
    published_by: str
    active: bool


class Published(BaseModel):
    """The version just published, now in force."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"version": "2026-12-09.1", "active": True}]})

    version: str
    active: bool
