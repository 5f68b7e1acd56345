"""Log lines as operators read them: JSON with an ISO 8601 time and its zone, uvicorn's own
lines included, and an outage's repeated complaints summed up instead of repeated."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime

import pytest

from shared.observability import logging as handoff_logging
from shared.observability.logging import RepeatSummary, configure_logging


@pytest.fixture
def captured(monkeypatch):
    """Whatever configure_logging's handler writes; root and uvicorn's loggers put back after."""
    out = io.StringIO()
    monkeypatch.setattr(handoff_logging.sys, "stdout", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    uvicorn_saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate)
                     for n in handoff_logging.UVICORN_LOGGERS}
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn does
    logging.getLogger("uvicorn.error").propagate = False
    configure_logging("intake", "INFO")
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    for name, (handlers, propagate) in uvicorn_saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def test_every_line_is_json_with_a_zoned_time_uvicorns_included(captured):
    logging.getLogger("services.intake").info("lead accepted")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42,
                                            extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"})
    lines = captured()
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("services.intake", "lead accepted"), ("uvicorn.error", "Started server process [42]")]
    for line in lines:
        assert datetime.fromisoformat(line["time"]).utcoffset() is not None, line["time"]
        assert line["service"] == "intake" and "color_message" not in line


def record(name: str, msg: str, level: int = logging.WARNING, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_repeated_complaint_is_said_once_per_window_then_summed_up():
    now = [0.0]
    summary = RepeatSummary(window_s=10, clock=lambda: now[0])
    kept = []
    for i in range(2000):  # a broker away for 20 s, a complaint every 10 ms
        now[0] = i * 0.01
        line = record("aiokafka.conn", "Unable to connect to node %s", logging.ERROR, i % 3)
        if summary.filter(line):
            kept.append(line)
    assert len(kept) == 2
    assert not hasattr(kept[0], "repeated") and kept[1].repeated == 999


def test_other_kinds_info_lines_and_other_loggers_are_never_held_back():
    summary = RepeatSummary(window_s=10, clock=lambda: 0.0)
    assert summary.filter(record("aiokafka.conn", "Unable to connect"))
    assert summary.filter(record("aiokafka.conn", "Another complaint"))
    assert summary.filter(record("aiokafka.conn", "Unable to connect", logging.INFO))
    assert all(summary.filter(record("services.routing", "a decision failed")) for _ in range(3))
