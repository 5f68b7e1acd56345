"""Comparing presented secrets with expected ones in constant time."""

from __future__ import annotations

import hmac


def tokens_match(presented: str, expected: str) -> bool:
    """Constant time in the length of ``expected``, whatever is presented."""
    return hmac.compare_digest(presented.encode(), expected.encode())
