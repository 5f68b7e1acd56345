"""The shape every service shares, checked on the code itself (docs/architecture.md, "One
shape, every service"): the import contracts, SQL only in repositories, one exception handler
per app, and an OpenAPI document that says what each operation takes and answers, served
with its viewer from a package (no CDN)."""

from __future__ import annotations

import ast
import inspect
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.service.routes import api_routes

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "scoring", "routing", "feedback")
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "Table", "Column",
                "literal", "exists", "union"}
SQL_ROOMS = ("repository.py", "tables.py", "migrations")


def test_the_import_contracts_hold(monkeypatch, capsys):
    from importlinter.cli import lint_imports  # importing the cli module configures import-linter

    monkeypatch.chdir(ROOT)
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    enabled, disabled_below = [lg for lg in loggers if not lg.disabled], logging.root.manager.disable
    try:
        result = lint_imports(no_logo=True, no_cache=True)
    finally:  # it configures logging for its own run (disabling every logger that exists): put it back
        logging.disable(disabled_below)
        for logger in enabled:
            logger.disabled = False
    out = capsys.readouterr().out
    assert result == 0, out
    assert "broken" not in out.split("Contracts:")[-1].replace("0 broken", ""), out


def _sql_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sqlalchemy":
            found |= {alias.name for alias in node.names} & SQL_BUILDERS
    return found


def test_sql_is_written_only_in_each_service_s_repository_and_tables():
    offenders = {}
    for service in SERVICES:
        for path in sorted((ROOT / "services" / service).rglob("*.py")):
            relative = path.relative_to(ROOT / "services" / service)
            if relative.parts[0] in SQL_ROOMS:
                continue
            found = _sql_imports(path)
            if found:
                offenders[str(path.relative_to(ROOT))] = sorted(found)
    assert offenders == {}, f"SQL outside the repositories: {offenders}"


def test_the_sql_check_sees_sql(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from sqlalchemy import select, AsyncSession\nfrom sqlalchemy.dialects.postgresql import insert\n")
    assert _sql_imports(module) == {"select", "insert"}


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    import importlib
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    built = {s: importlib.import_module(f"services.{s}.app").create_app() for s in SERVICES}
    root.handlers[:], _ = handlers, root.setLevel(level)  # building an app configures logging
    return built


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, methods in document["paths"].items()
            for method, operation in methods.items()]


def _has_example(operation: dict[str, Any], components: dict[str, Any]) -> bool:
    def schema_has_example(schema: dict[str, Any]) -> bool:
        if "$ref" in schema:
            schema = components["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        if "items" in schema:
            return "examples" in schema or schema_has_example(schema["items"])
        return "examples" in schema or "example" in schema

    contents = [c for r in operation["responses"].values() for c in r.get("content", {}).values()]
    contents += list(operation.get("requestBody", {}).get("content", {}).values())
    return any("example" in c or "examples" in c or schema_has_example(c.get("schema", {})) for c in contents)


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_documented_with_a_summary_an_example_and_its_error_bodies(apps, service):
    document = apps[service].openapi()
    components = document["components"]
    assert "HTTPValidationError" not in components["schemas"], "the 422 body is documented as served"
    for method, path, operation in _operations(document):
        where = f"{service} {method} {path}"
        assert operation.get("summary"), f"{where}: no summary"
        assert _has_example(operation, components), f"{where}: no example"
        for status, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if status == "422":
                assert schema == {"$ref": "#/components/schemas/FieldProblems"}, where
            elif status.startswith(("4", "5")) and status != "503" or status == "503" and path != "/readyz":
                assert schema == {"$ref": "#/components/schemas/Problem"}, f"{where} {status}"
        if "requestBody" in operation:
            assert {"413", "422"} <= set(operation["responses"]), f"{where}: body limits undocumented"


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_declares_what_it_answers(apps, service):
    routes = api_routes(apps[service].routes)
    assert len(routes) > 5, f"{service}: the walk found no routes ({len(routes)})"
    for route in routes:
        if route.include_in_schema:
            response_class = getattr(route.response_class, "value", route.response_class)  # unwrap the default
            answers_json = issubclass(response_class, JSONResponse) and route.path != "/metrics"
            assert route.response_model is not None or not answers_json, f"{service} {route.path}: no response_model"


def _runs_on_the_event_loop(call: Any) -> bool:
    """FastAPI awaits a coroutine function (or an object whose __call__ is one, as its security
    schemes are); anything else it runs on the thread pool, a thread hop per request."""
    return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call) \
        or not inspect.isfunction(call) and inspect.iscoroutinefunction(type(call).__call__)


@pytest.mark.parametrize("service", SERVICES)
def test_no_route_hands_its_request_to_the_thread_pool(apps, service):
    """Every endpoint and dependency is async: none of them blocks, and a sync one would cost
    each request a trip through the thread pool (measured on intake: about a tenth of its CPU)."""
    def calls(dependant: Any) -> Iterator[Any]:
        for sub in dependant.dependencies:
            yield from calls(sub)
        if dependant.call is not None:
            yield dependant.call

    on_threads = {f"{route.path}: {getattr(call, '__qualname__', call)}"
                  for route in api_routes(apps[service].routes) for call in calls(route.dependant)
                  if not _runs_on_the_event_loop(call)}
    assert not on_threads, sorted(on_threads)


@pytest.mark.parametrize("service", SERVICES)
def test_changes_need_the_bearer_token_and_the_contract_says_so(apps, service):
    document = apps[service].openapi()
    schemes = document["components"].get("securitySchemes", {})
    bearer = {name for name, scheme in schemes.items() if scheme.get("scheme") == "bearer"}
    assert bearer, f"{service} declares no Bearer scheme: /docs could not send a token"
    for method, path, operation in _operations(document):
        if method in ("POST", "PUT", "PATCH", "DELETE") and not path.startswith(("/webhooks", "/preview")) \
                and path not in ("/definitions/simulate", "/policies/preview", "/reports/plan"):
            assert operation.get("security"), f"{service} {method} {path} changes things without a credential"
            assert "401" in operation["responses"], f"{service} {method} {path}: 401 undocumented"


@pytest.mark.parametrize("service", SERVICES)
def test_one_exception_handler_answers_for_the_whole_app(apps, service):
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    handlers = apps[service].exception_handlers
    assert handlers[RequestValidationError] is handlers[HTTPException]
    distinct = {h for kind, h in handlers.items() if kind is not Exception and kind != 500
                and "WebSocket" not in getattr(kind, "__name__", "")}
    assert len(distinct) == 1, f"{service} has {len(distinct)} exception handlers"


@pytest.mark.parametrize("service", SERVICES)
async def test_the_api_viewer_works_offline(apps, service):
    transport = httpx.ASGITransport(app=apps[service])
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as http:
        for page in ("/docs", "/redoc"):
            html = (await http.get(page)).text
            assert not re.findall(r"https?://", html), f"{page} refers to another host"
            for asset in re.findall(r'(?:src|href)="(/[^"]+)"', html):
                assert (await http.get(asset)).status_code == 200, f"{page}: {asset}"
        assert "validatorUrl" in (await http.get("/docs")).text  # Swagger UI's online validator is off


def _documented_models() -> list[type]:
    import importlib

    from pydantic import BaseModel

    modules = [f"services.{s}.api.models" for s in SERVICES] + [
        "services.scoring.domain.definition", "services.routing.domain.policy", "services.feedback.domain.hubspot",
        "shared.service.errors", "shared.service.app", "shared.service.documents"]
    found = []
    for name in modules:
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == name:
                extra = value.model_config.get("json_schema_extra")
                if isinstance(extra, dict) and extra.get("examples"):
                    found.append(value)
    return found


@pytest.mark.parametrize("model", _documented_models(), ids=lambda m: m.__name__)
def test_every_documented_example_is_valid(model):
    for example in model.model_config["json_schema_extra"]["examples"]:
        model.model_validate(example)
