"""Child processes that cannot outlive the Python process that started them.

Three things make that hold even when devstack itself is killed hard:
- every child gets a parent-death signal (Linux prctl PR_SET_PDEATHSIG), so the
  kernel signals it when its parent goes away, however that happens;
- the kernel ties that signal to the *thread* that forked the child, so all children
  are forked from one long-lived daemon thread rather than from whichever thread
  (a pytest worker, an executor thread) happened to call start();
- every child runs in its own session, so a Ctrl-C in the terminal reaches only
  devstack, which then stops the children in order instead of all at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devstack.errors import DevstackError

_PR_SET_PDEATHSIG = 1


def _death_signal_setter(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn arming `sig` on parent death; resolved before fork so the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return arm


class _Spawner:
    """One daemon thread that forks every child, so PDEATHSIG fires only when the process dies."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="devstack-spawner", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            make, future = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(make())
                except BaseException as exc:  # handed to the caller through the future
                    future.set_exception(exc)

    def spawn(self, make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        future: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((make, future))
        return future.result()


_spawner: _Spawner | None = None
_spawner_lock = threading.Lock()


def _get_spawner() -> _Spawner:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = _Spawner()
        return _spawner


@dataclass(frozen=True)
class RunAs:
    """An unprivileged account to drop to (PostgreSQL will not run as root)."""

    uid: int
    gid: int


def spawn(
    args: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    run_as: RunAs | None = None,
    death_signal: signal.Signals = signal.SIGTERM,
    echo_prefix: str | None = None,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a long-running child with stdout+stderr going to `log_path` (truncated, or with
    `append` added to: a component started again keeps what it logged before it was stopped or
    killed, which is what one reads after a fault).

    With `echo_prefix`, output is also copied line by line to our stderr.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab" if append else "wb")  # noqa: SIM115 - handed to the child, closed below
    arm = _death_signal_setter(death_signal)

    def make() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if echo_prefix else log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=arm,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,  # drop root's supplementary groups too
        )

    try:
        proc = _get_spawner().spawn(make)
    except BaseException:
        log.close()
        raise
    if echo_prefix:
        threading.Thread(
            target=_tee, args=(proc.stdout, log, echo_prefix), name=f"devstack-tee-{echo_prefix}", daemon=True
        ).start()
    else:
        log.close()
    return proc


def _tee(source: IO[bytes], log: IO[bytes], prefix: str) -> None:
    with log, source:
        for line in source:
            log.write(line)
            log.flush()
            sys.stderr.write(f"{prefix} {line.decode(errors='replace')}")
            sys.stderr.flush()


def terminate_all(procs: Sequence[tuple[subprocess.Popen[bytes], signal.Signals]], timeout: float) -> None:
    """Send each process its shutdown signal, wait for all together, then SIGKILL stragglers."""
    for proc, sig in procs:
        if proc.poll() is None:
            _signal(proc, sig)
    deadline = time.monotonic() + timeout
    for proc, _ in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # exited between poll() and the signal
        proc.send_signal(sig)


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log, for error messages."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


REFUSED_TO_START = 78  # shared/service/startup.py: EX_CONFIG, the reason logged in one line


def failure(what: str, log_path: Path, proc: subprocess.Popen[bytes] | None = None) -> DevstackError:
    """A DevstackError saying `what`, the exit status if the process died, and the log tail;
    a service that refused to start (a bad reviewed file) says only its reason."""
    status = ""
    if proc is not None and proc.poll() is not None:
        status = f" (process exited with status {proc.returncode})"
        if proc.returncode == REFUSED_TO_START and (reason := _refusal(log_path)):
            return DevstackError(f"{what}: {reason}")
    return DevstackError(f"{what}{status}. Last lines of {log_path}:\n{tail(log_path)}")


def _refusal(log_path: Path) -> str | None:
    for line in reversed(tail(log_path).splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("logger") == "handoff.startup":
            return str(record.get("message"))
    return None


def ensure_port_free(port: int, what: str) -> None:
    """Fail early and clearly when something (often a stack left over) already listens on `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise DevstackError(
                f"cannot start {what}: 127.0.0.1:{port} is already in use "
                "(another Handoff stack still running? try `pgrep -af 'kafka.Kafka|postgres -D|uvicorn'`)"
            ) from None


def port_accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (held together so they differ)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()
