"""Where devstack keeps things.

Downloads (the Kafka jars) are shared by every stack and live in a cache outside the
repository, so a fresh clone or `git clean` does not re-download them. Everything a
running stack writes (Kafka and PostgreSQL data, logs, secrets) lives in a per-stack
state directory chosen by the caller: tests use temporary ones, `up` uses a default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
CONFIG_DIR = REPO_ROOT / "config"


def cache_root() -> Path:
    """$HANDOFF_CACHE, else $XDG_CACHE_HOME/handoff, else ~/.cache/handoff."""
    explicit = os.environ.get("HANDOFF_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "handoff"


def kafka_version_dir(version: str) -> Path:
    """Holds libs/ for one Kafka version plus the marker saying the download finished."""
    return cache_root() / "kafka" / version


def default_state_dir() -> Path:
    """State of the interactive stack, kept between runs of `up`."""
    return cache_root() / "state" / "default"


@dataclass(frozen=True)
class StateLayout:
    """The files and folders inside one stack's state directory."""

    root: Path

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def postgres_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    def log(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"
