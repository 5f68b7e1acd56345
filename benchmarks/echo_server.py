"""A bare FastAPI app that takes the same JSON body as intake's ``POST /leads`` and answers
like it (202 and a lead id) without doing anything: the ceiling of one uvicorn worker on
this machine, to hold intake's request rate against.

Served the way the services are (uvicorn with uvloop and httptools, one worker) in a child
process on a free loopback port:

    .venv/bin/python -m uvicorn benchmarks.echo_server:app --loop uvloop --http httptools --workers 1
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

import httpx
from fastapi import FastAPI, status
from pydantic import BaseModel, ConfigDict

from devstack import child
from devstack.errors import DevstackError


class LeadBody(BaseModel):
    """The fields the benchmarks post; parsed, as any FastAPI endpoint parses its body."""

    model_config = ConfigDict(extra="allow")

    email: str
    job_title: str | None = None
    company_size: int | None = None
    industry: str | None = None
    country: str | None = None


class Echoed(BaseModel):
    lead_id: uuid.UUID
    status: str = "accepted"


app = FastAPI(title="bench echo")


@app.post("/leads", status_code=status.HTTP_202_ACCEPTED, response_model=Echoed)
async def post_lead(body: LeadBody) -> Echoed:
    return Echoed(lead_id=uuid.uuid4())


@app.get("/readyz")
async def ready() -> dict[str, bool]:
    return {"ready": True}


class EchoServer:
    """The echo app in a child process for the length of a ``with`` block."""

    def __init__(self, log_path: Path) -> None:
        self.port = child.free_ports(1)[0]
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> EchoServer:
        self.process = child.spawn(
            [sys.executable, "-m", "uvicorn", "benchmarks.echo_server:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--loop", "uvloop", "--http", "httptools", "--workers", "1",
             "--no-access-log"],
            log_path=self.log_path, cwd=Path(__file__).resolve().parent.parent)
        self._wait_ready(timeout=30)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise child.failure("the echo server died during startup", self.log_path, self.process)
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise DevstackError(f"the echo server did not answer on {self.url} within {timeout:.0f} s")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None:
            child.terminate_all([(self.process, signal.SIGTERM)], timeout=10)
