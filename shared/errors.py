"""The refusals a use case can answer with, free of any web framework: each service's one
exception handler (``shared/service/errors.py``) turns them into HTTP responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class Refused(Exception):
    """An expected refusal; ``detail`` is safe to show to the caller."""

    status: ClassVar[int] = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(Refused):
    status = 404


class Conflict(Refused):
    """The request is well formed but the current state does not allow it."""

    status = 409


class Unauthorized(Refused):
    """No credential, or one we do not know."""

    status = 401


class Forbidden(Refused):
    """The caller is known but may not do this (or the action is switched off)."""

    status = 403


class InvalidInput(Refused):
    """The input names fields that are wrong; every problem is listed."""

    status = 422

    def __init__(self, problems: Sequence[tuple[str, str]],
                 places: Sequence[tuple[int, int] | None] | None = None) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))
        self.problems = list(problems)
        self.places = list(places) if places is not None else [None] * len(self.problems)
        """(line, column) of each problem in a YAML body, where known."""

    @classmethod
    def one(cls, field: str, reason: str) -> InvalidInput:
        return cls([(field, reason)])


class Unavailable(Refused):
    """A dependency (the database, the broker) does not answer now; try again later."""

    status = 503

    def __init__(self, detail: str, retry_after_s: int = 5) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class TooManyRequests(Refused):
    """The caller is over its rate limit; it may try again after ``retry_after_s``."""

    status = 429

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
