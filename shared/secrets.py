"""What counts as a secret good enough to start with, and secrets read from files.

A service that starts with ``deploy/env.example``'s ``change-me`` runs with a password the
whole internet has read; so settings refuse a placeholder, an empty or a short secret at
start-up, naming the variable. ``<VARIABLE>_FILE`` names a file that holds the value (a
Kubernetes secret mount, a Docker secret), read when the variable itself is not set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

MIN_SECRET_CHARS = 16
FILE_SUFFIX = "_FILE"
MAX_SECRET_FILE_BYTES = 64 * 1024

_PLACEHOLDER = re.compile(
    r"change[-_ ]?me|changeit|replace[-_ ]?me|placeholder|your[-_ ]|example|insecure|<[^>]*>|^x+$|^\*+$",
    re.IGNORECASE)


def weakness(value: str) -> str | None:
    """Why ``value`` is no secret (None: it will do). Pure, so settings and tools share it."""
    if not value.strip():
        return "is empty"
    if _PLACEHOLDER.search(value):
        return "is a placeholder (deploy/env.example's values are not secrets); set a random value"
    if len(value) < MIN_SECRET_CHARS:
        return f"is {len(value)} characters; a secret has at least {MIN_SECRET_CHARS} (random)"
    return None


def variables_from_files(environ: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """``NAME_FILE=/path`` as ``NAME=<contents>`` for each of ``names`` not set itself.

    Names match case-insensitively, as settings read variables. One trailing newline is
    dropped (``echo secret > file`` writes one); a missing or oversized file stops the start
    naming the variable, never silently leaves it unset.
    """
    wanted = {name.upper() for name in names}
    present = {name.upper() for name in environ}
    found: dict[str, str] = {}
    for name, path in environ.items():
        upper = name.upper()
        if not upper.endswith(FILE_SUFFIX) or upper[: -len(FILE_SUFFIX)] not in wanted:
            continue
        target = name[: -len(FILE_SUFFIX)]
        if target.upper() in present or not path:
            continue
        file = Path(path)
        try:
            if file.stat().st_size > MAX_SECRET_FILE_BYTES:
                raise ValueError(f"{name}: {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{name}: {path} is not UTF-8 text") from None
        found[target] = text[:-1] if text.endswith("\n") else text
    return found


def variable(name: str) -> str:
    """One variable's value, or its ``_FILE`` twin's contents; empty when neither is set."""
    return os.environ.get(name) or variables_from_files(os.environ, [name]).get(name, "")
