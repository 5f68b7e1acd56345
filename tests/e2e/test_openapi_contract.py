"""Each service against its own published contract, fuzzed from its /openapi.json on the real
stack (the services as the local stack starts them): with valid credentials and without, 25
examples per operation, positive and negative data; no server error, every status documented,
every body as documented. And the same harness finds a deliberately broken endpoint.

These run last (tests/conftest.py orders them): with valid credentials the fuzzer really
changes things, such as adding owners to the routing policy, which other tests must not see.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Query

from devstack.stack import Stack
from services.intake.app import create_app as create_intake
from services.intake.settings import IntakeSettings
from shared.service.errors import error_responses
from shared.webhooks.hubspot_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_v3
from shared.webhooks.signature import signature_header
from tests.e2e.openapi_fuzzing import REPORT, Figures, fuzz, fuzz_signed

pytestmark = pytest.mark.fuzz

SERVICES = ("intake", "scoring", "routing", "feedback")
EXAMPLES_PER_OPERATION = 25
CAP_S = 240  # per run; a run that hits it reports how far it got


def credentials(stack: Stack, service: str) -> dict[str, str]:
    token = stack.secrets.intake_api_keys["web-form"] if service == "intake" else stack.secrets.admin_token
    return {"Authorization": f"Bearer {token}"}


def assert_clean(figures: Figures) -> None:
    REPORT.append(figures.summary())  # printed at the end of the test output
    assert figures.requests > 0 and figures.operations, figures.summary()
    assert set(figures.check_runs) == {"not_a_server_error", "status_code_conformance",
                                       "response_schema_conformance"}, figures.summary()
    assert not figures.errors, figures.summary()
    assert not figures.failures, figures.summary()


@pytest.mark.parametrize("with_credentials", [True, False], ids=["with-credentials", "without-credentials"])
@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_holds_to_the_published_contract(stack, service, with_credentials):
    figures = fuzz(f"{service} {'with' if with_credentials else 'without'} credentials",
                   f"{stack.urls[service]}/openapi.json",
                   headers=credentials(stack, service) if with_credentials else None,
                   max_examples=EXAMPLES_PER_OPERATION, max_seconds=CAP_S)
    assert_clean(figures)
    documented = httpx.get(f"{stack.urls[service]}/openapi.json").json()["paths"]
    assert len(figures.operations) >= sum(len(methods) for methods in documented.values())


def test_signed_webhooks_hold_to_the_contract_with_valid_signatures(stack):
    """The webhooks are signed over their exact bytes, so these bodies are signed here; the
    unsigned fuzzing above only ever reaches their 401."""
    feedback = stack.urls["feedback"]

    def crm(method: str, url: str, body: bytes) -> dict[str, str]:
        return {"Handoff-Signature": signature_header(stack.secrets.crm_webhook_secret, int(time.time()), body)}

    def hubspot(method: str, url: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time() * 1000))
        return {SIGNATURE_HEADER: sign_v3(stack.secrets.hubspot_client_secret, method, url, body, timestamp),
                TIMESTAMP_HEADER: timestamp}

    for path, signer in (("/webhooks/crm", crm), ("/webhooks/hubspot", hubspot)):
        figures = fuzz_signed(f"signed {path}", f"{feedback}/openapi.json", feedback, "POST", path, signer,
                              max_examples=EXAMPLES_PER_OPERATION)
        assert_clean(figures)
        assert set(figures.statuses) - {401}, f"{path}: every signed request was refused: {figures.summary()}"


# -- the harness catches a broken endpoint ------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def intake_with_a_broken_endpoint(stack) -> Iterator[str]:
    """The real intake app, as the stack configures it, plus one route that fails on half its input
    (documented otherwise like the real routes, so the 500 is the only thing wrong with it)."""
    settings = IntakeSettings(database_url=stack.database_url, kafka_bootstrap_servers=stack.kafka_bootstrap,
                              api_keys=stack.secrets.intake_api_keys)
    app: FastAPI = create_intake(settings)
    broken = APIRouter()

    @broken.get("/broken/divide", summary="Deliberately broken: divides by n's oddness",
                responses=error_responses(422))
    async def divide(n: Annotated[int, Query(ge=0, le=100)]) -> dict[str, float]:
        return {"result": 1 / (n % 2)}  # any even n: ZeroDivisionError, an undocumented 500

    app.include_router(broken)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_fuzzer_finds_a_deliberately_broken_endpoint(intake_with_a_broken_endpoint, stack):
    figures = fuzz("intake with a broken endpoint", f"{intake_with_a_broken_endpoint}/openapi.json",
                   headers=credentials(stack, "intake"), max_examples=EXAMPLES_PER_OPERATION, max_seconds=CAP_S)
    REPORT.append(figures.summary())
    found = {(operation, check) for operation, check, _ in figures.failures}
    assert ("GET /broken/divide", "not_a_server_error") in found, figures.summary()
    assert ("GET /broken/divide", "status_code_conformance") in found, figures.summary()
    assert {operation for operation, _ in found} == {"GET /broken/divide"}, "only the broken endpoint fails"
