"""CPU seconds and resident memory of processes, read from /proc (Linux), so a benchmark can
say what each process of the stack spent per 1,000 leads.

The processes are found by their command lines rather than through the stack's private
fields: a service is ``uvicorn ... services.<name>.app:create_app ... --port <port>``, the
PostgreSQL server is the ``postgres ... -p <port>`` postmaster with all its backends, the
broker is the ``kafka.Kafka`` JVM whose arguments name the stack's Kafka directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.stack import Stack, process_tree

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """What a process (with its descendants) had used at one moment."""

    cpu_s: float  # user + system, including reaped children (cutime, cstime)
    rss_kb: int

    def __sub__(self, before: Sample) -> Sample:
        return Sample(self.cpu_s - before.cpu_s, self.rss_kb - before.rss_kb)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []  # gone meanwhile, or not ours to read
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces): index 0
    is the state, 1 the parent pid, 11..14 utime, stime, cutime, cstime."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _rss_kb(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(root: int, *, tree: bool = True) -> Sample:
    """CPU and RSS of ``root`` and (``tree``) its descendants. Children that ended count through
    their parent's cutime/cstime once reaped, so a backend that exited mid-run is not lost.
    ``tree=False`` for the benchmark's own process, whose descendants are the whole stack."""
    cpu_ticks, rss = 0, 0
    for pid in process_tree(root) if tree else [root]:
        fields = _stat_fields(pid)
        if fields:
            cpu_ticks += sum(int(value) for value in fields[11:15 if tree else 13])  # own children: not ours
            rss += _rss_kb(pid)
    return Sample(cpu_ticks / TICKS, rss)


def find_pid(matches: Callable[[list[str]], bool]) -> int | None:
    """The first process whose argument list ``matches``, else None."""
    for pid in sorted(_pids()):
        if pid != os.getpid() and matches(_cmdline(pid)):
            return pid
    return None


def _follows(args: list[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in zip(args, args[1:], strict=False))


def _service(name: str, port: int) -> Callable[[list[str]], bool]:
    app = f"services.{name}.app:create_app"
    return lambda args: app in args and _follows(args, "--port", str(port))


def _postmaster(port: int) -> Callable[[list[str]], bool]:
    return lambda args: bool(args) and args[0].endswith("postgres") and _follows(args, "-p", str(port))


def _broker(kafka_dir: Path) -> Callable[[list[str]], bool]:
    return lambda args: "kafka.Kafka" in args and any(str(kafka_dir) in a for a in args)


def stack_pids(stack: Stack) -> dict[str, int]:
    """Pid of each service process of ``stack``, of its PostgreSQL postmaster ("postgres") and
    of its broker ("kafka"); components it does not run (an external database) are left out."""
    matchers = {name: _service(name, stack.config.service_ports[name]) for name in stack.config.services}
    if not stack.config.database_url:
        matchers["postgres"] = _postmaster(stack.config.postgres_port)
    matchers["kafka"] = _broker(stack.layout.kafka_dir)
    found = {name: find_pid(matches) for name, matches in matchers.items()}
    return {name: pid for name, pid in found.items() if pid is not None}


DRIVER = "bench driver"  # this process: the HTTP client and the Kafka reader of the benchmark


def sample_all(pids: Mapping[str, int]) -> dict[str, Sample]:
    """Every process of ``pids``, with its descendants, and this process alone as DRIVER."""
    return {**{name: sample(pid) for name, pid in pids.items()}, DRIVER: sample(os.getpid(), tree=False)}


def per_thousand(before: Mapping[str, Sample], after: Mapping[str, Sample], count: int,
                 names: Iterable[str] | None = None) -> dict[str, tuple[float, int, int]]:
    """name -> (CPU seconds per 1,000 items, RSS before in kB, RSS after in kB)."""
    chosen = list(names) if names is not None else list(after)
    return {name: ((after[name].cpu_s - before[name].cpu_s) * 1000 / count, before[name].rss_kb, after[name].rss_kb)
            for name in chosen if name in before and name in after and count}
