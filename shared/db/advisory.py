"""Names for PostgreSQL advisory locks: every replica derives the same 64-bit key from a name."""

from __future__ import annotations

import hashlib


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory locks, the same on every replica."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
