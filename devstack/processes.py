"""One Handoff service (a FastAPI app) run under uvicorn as a child process.

Separate processes, not in-process apps, so the stack exercises what production runs:
each service's own settings from its environment, its own event loop and Kafka clients.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from devstack import child
from devstack.errors import DevstackError


class ServiceProcess:
    """`services.<name>.app:create_app` served on 127.0.0.1:`port`.

    ``label`` names this process in messages and echoed logs; it defaults to the service's
    name and differs for a further replica of the same service (``routing-2``).
    """

    def __init__(
        self,
        name: str,
        *,
        port: int,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path,
        echo: bool = False,
        label: str | None = None,
    ) -> None:
        self.name = name
        self.label = label or name
        self.port = port
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.echo = echo
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_before = False  # a restart appends to the log instead of truncating it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._proc

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        child.ensure_port_free(self.port, f"the {self.label} service")
        self._proc = child.spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                f"services.{self.name}.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            log_path=self.log_path,
            cwd=self.cwd,
            env={**self.env, "PYTHONUNBUFFERED": "1"},
            echo_prefix=f"[{self.label}]" if self.echo else None,
            append=self._started_before,
        )
        self._started_before = True

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until GET /readyz answers 200."""
        if self._proc is None:
            raise DevstackError(f"{self.label} was not started")
        deadline = time.monotonic() + timeout
        last = "no answer"
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise child.failure(f"{self.label} died during startup", self.log_path, self._proc)
                try:
                    response = http.get(f"{self.url}/readyz")
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.TransportError as exc:
                    last = type(exc).__name__
                time.sleep(0.1)
        raise child.failure(
            f"{self.label} not ready at {self.url}/readyz after {timeout:.0f} s (last: {last})",
            self.log_path,
            self._proc,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (uvicorn drains and runs the app's shutdown), then SIGKILL after `timeout`."""
        if self._proc is not None:
            child.terminate_all([(self._proc, signal.SIGTERM)], timeout)
            self._proc = None
