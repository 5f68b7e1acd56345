"""A service that cannot start says why in one line and exits with status 78 (EX_CONFIG),
not with a traceback: a bad reviewed file, or a file that would silently discard a newer
publication. The line is JSON like every other, so the platform's log search finds it."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import NoReturn, TypeVar

from shared.observability.logging import configure_logging
from shared.reviewed_documents import DocumentError

EX_CONFIG = 78
"""sysexits.h: a configuration error; a supervisor that restarts on failure shows it as such."""

T = TypeVar("T")
log = logging.getLogger("handoff.startup")


class StartRefused(SystemExit):
    """Raised while the app is built (uvicorn's factory): Python exits with EX_CONFIG quietly,
    the reason having been logged; in-process callers see the reason as the message."""

    def __init__(self, message: str) -> None:
        super().__init__(EX_CONFIG)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _say(service: str, message: str) -> None:
    if not logging.getLogger().handlers:
        configure_logging(service)
    log.critical("%s cannot start: %s", service, message)
    for handler in logging.getLogger().handlers:
        handler.flush()


def reviewed_file(service: str, load: Callable[[], T]) -> T:
    """``load()`` (a reviewed file), or the start refused with the file's problems, each at its line."""
    try:
        return load()
    except DocumentError as exc:
        _say(service, str(exc))
        raise StartRefused(str(exc)) from None


def refuse_while_serving(service: str, message: str) -> NoReturn:
    """For a refusal found once the server runs (in the lifespan, where an exception would be
    printed as a traceback by Starlette and uvicorn): log it and leave at once."""
    _say(service, message)
    logging.shutdown()
    os._exit(EX_CONFIG)
