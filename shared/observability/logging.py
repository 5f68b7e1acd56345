"""JSON logs, one object per line, each carrying the service, the correlation id and an
ISO 8601 time with its zone; uvicorn's own lines too. During an outage the same complaint
from a retrying client comes thousands of times: it is said once per window, then summed
up with how often it came (``RepeatSummary``)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from pythonjsonlogger.json import JsonFormatter

from shared.observability.correlation import current_correlation_id
from shared.observability.redaction import scrub_values

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
NOISY_DURING_OUTAGES = ("aiokafka", "shared.kafka", "shared.outbox", "shared.loops")
"""Loggers whose warnings repeat once per retry while a broker or database is away."""


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = current_correlation_id()
        record.__dict__.pop("color_message", None)  # uvicorn's copy with terminal colour codes
        return True


class RepeatSummary(logging.Filter):
    """The first warning or error of a kind (its logger and message template) passes; the
    same kind again within ``window_s`` is counted, not written; the first one after the
    window passes with ``repeated``: how many were held back meanwhile. Info lines and
    loggers outside ``prefixes`` are never held back."""

    def __init__(self, prefixes: tuple[str, ...] = NOISY_DURING_OUTAGES, window_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.window_s = window_s
        self._now = clock
        self._kinds: dict[tuple[str, str], tuple[float, int]] = {}  # kind -> (said at, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefixes):
            return True
        kind = (record.name, str(record.msg))
        now = self._now()
        said_at, held = self._kinds.get(kind, (None, 0))
        if said_at is not None and now - said_at < self.window_s:
            self._kinds[kind] = (said_at, held + 1)
            return False
        if held:
            record.repeated = held
        self._kinds[kind] = (now, 0)
        if len(self._kinds) > 1000:  # bounded: forget the oldest kinds
            for old in sorted(self._kinds, key=lambda k: self._kinds[k][0])[:500]:
                del self._kinds[old]
        return True


class _Formatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """The last net for personal data: an email in any field (a message, a traceback, an
        extra) is ``<email>``; errors are described without values at their source."""
        return cast(dict[str, Any], scrub_values(log_data))


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ContextFilter(service))
    handler.addFilter(RepeatSummary())
    handler.setFormatter(
        _Formatter(
            "%(asctime)s %(levelname)s %(name)s %(service)s %(correlation_id)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    for name in UVICORN_LOGGERS:  # uvicorn configured its own text handlers before it built the app
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
