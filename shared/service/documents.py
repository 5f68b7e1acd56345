"""Reviewed documents (a lead definition, a routing policy) posted as JSON or YAML.

The route declares the body in its OpenAPI (``document_body_openapi``) so clients and
fuzzers can send it, and reads it with ``document_body``: JSON, or YAML when the
Content-Type says so. YAML is read safely, without aliases (an alias can expand a small
body into gigabytes) and without keys written twice; a problem is a 422 naming the field,
and for a YAML body its line and column.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

import orjson
import yaml
from fastapi import Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.document_diff import diff
from shared.document_locations import LocatedYaml, Mark, YamlProblem, describe, read_yaml
from shared.errors import InvalidInput, NotFound
from shared.reviewed_documents import DOCUMENT_VERSION_MAX

M = TypeVar("M", bound=BaseModel)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


def is_yaml(content_type: str | None) -> bool:
    return any(kind in (content_type or "").lower() for kind in YAML_TYPES)


def parse_document(raw: bytes, content_type: str | None, model: type[M]) -> M:
    """``raw`` as ``model``; InvalidInput names the field (with the line and column of a YAML
    body, and the key meant for a misspelt one), or 'body' when it cannot be read."""
    located: LocatedYaml | None = None
    try:
        if is_yaml(content_type):
            located = read_yaml(raw)
            data = located.data
        else:
            data = orjson.loads(raw)
    except YamlProblem as exc:
        raise InvalidInput([("body", str(exc)[:300])], places=[_place(exc.mark)]) from None
    except (orjson.JSONDecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidInput.one("body", f"not valid JSON: {str(exc).splitlines()[0][:300]}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [describe(e, model, located) for e in exc.errors()]
        raise InvalidInput([(p.field, p.reason) for p in problems], places=[_place(p.mark) for p in problems]) from None


def _place(mark: Mark | None) -> tuple[int, int] | None:
    return None if mark is None else (mark.line, mark.column)


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


VERSION_PATTERN = r"^[^\x00-\x1f\x7f]+$"


def version_path(example: str) -> Any:
    """The ``{version}`` of a document's path."""
    return Path(min_length=1, max_length=DOCUMENT_VERSION_MAX, pattern=VERSION_PATTERN, examples=[example])


def version_query(alias: str, example: str) -> Any:
    """A version named in the query (``?from=...&to=...``)."""
    return Query(alias=alias, min_length=1, max_length=DOCUMENT_VERSION_MAX, pattern=VERSION_PATTERN,
                 examples=[example], description=f"the version to compare {alias}")


def document_responses(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route that serves a document as JSON, or as the reviewed YAML file
    when the request's Accept asks for YAML."""
    return {200: {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                              YAML_TYPES[0]: {"schema": {"type": "string"}}},
                  "description": "The document; with `Accept: application/yaml`, the YAML file to review and "
                                 "deploy (config/ holds such files)"}}


def as_requested(body: dict[str, Any], model: type[BaseModel], request: Request, what: str) -> Any:
    """``body`` (a stored version) as JSON (FastAPI serialises it), or as the YAML file when
    Accept asks for it: keys as the files write them (``from``/``to`` of an absence)."""
    accept = request.headers.get("accept", "").lower()
    if not any(kind in accept for kind in YAML_TYPES):
        return body
    written = model.model_validate(body).model_dump(mode="json", by_alias=True)
    header = (f"# {what}, version {body.get('version')}, exported from Handoff.\n"
              "# To deploy a change: edit it, give it a new version, and put it in config/ or POST it.\n")
    text = yaml.safe_dump(written, sort_keys=False, allow_unicode=True, width=100)
    return Response(header + text, media_type=YAML_TYPES[0] + "; charset=utf-8")


class PublishedVersion(BaseModel):
    """One published version of a reviewed document; one of them is active."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": "2026-12-02.1+rollback.4", "published_at": "2026-12-02T09:00:00Z", "published_by": "revops",
         "active": True, "rollback_of": "2026-12-02.1"}]})

    version: str
    published_at: datetime
    published_by: str
    active: bool
    rollback_of: str | None = Field(None, description="the earlier version this publication brought back")


class Published(BaseModel):
    """The version just published, now in force."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"version": "2026-12-09.1", "active": True,
                                                               "rollback_of": None}]})

    version: str
    active: bool
    rollback_of: str | None = Field(None, description="for a rollback: the earlier version brought back")


class FieldChangeView(BaseModel):
    field: str = Field(description="the field's path; items with an id or a name by it: 'rules[hot_leads].team'")
    change: Literal["added", "removed", "changed"]
    before: Any = Field(None, description="the value in the first version (absent when added)")
    after: Any = Field(None, description="the value in the second version (absent when removed)")


class VersionDiff(BaseModel):
    """What changed from one version to the other, field by field, in document order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "from_version": "2026-12-02.1", "to_version": "2026-12-09.1",
        "changes": [{"field": "thresholds.mql", "change": "changed", "before": 50, "after": 55}]}]})

    from_version: str
    to_version: str
    changes: list[FieldChangeView]


class _Versions(Protocol):
    async def get(self, version: str) -> dict[str, Any] | None: ...


async def compare_versions(store: _Versions, model: type[BaseModel], before: str, after: str,
                           what: str) -> VersionDiff:
    """Field paths as the files write them (by alias)."""
    bodies = []
    for version in (before, after):
        body = await store.get(version)
        if body is None:
            raise NotFound(f"no {what} version {version!r} was published")
        bodies.append(model.model_validate(body).model_dump(mode="json", by_alias=True))
    changes = [FieldChangeView(**c.to_dict()) for c in diff(bodies[0], bodies[1])]
    return VersionDiff(from_version=before, to_version=after, changes=changes)
