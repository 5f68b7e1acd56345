"""Reviewed documents (a lead definition, a routing policy) posted as JSON or YAML."""

from __future__ import annotations

from typing import TypeVar

import orjson
import yaml
from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

from shared.service.errors import field_errors

M = TypeVar("M", bound=BaseModel)


async def document_from_body(request: Request, model: type[M]) -> M:
    """The body as ``model``: JSON, or YAML with Content-Type application/yaml; 422 names the field."""
    raw = await request.body()
    try:
        data = yaml.safe_load(raw) if "yaml" in request.headers.get("content-type", "") else orjson.loads(raw)
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        raise HTTPException(422, detail=[{"field": "body", "reason": f"not valid JSON or YAML: {exc}"}]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, detail=field_errors(exc)) from None
