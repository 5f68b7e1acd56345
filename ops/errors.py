"""Failures an operator can act on: one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

UNREACHABLE = 2  # exit code: the broker or a service did not answer
FAILED = 1  # exit code: anything else the operator can act on (bad argument, nothing at that offset)


class OpsError(Exception):
    """``str(error)`` is the whole message for the operator; ``exit_code`` is what the CLI returns."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code
