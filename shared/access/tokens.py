"""Token values: random, shown once, kept only as a hash.

A token has 256 random bits, so a plain SHA-256 is enough to store it (a slow password hash
protects guessable secrets; nothing about this one is guessable), and it can be looked up by
its hash in one indexed read."""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "hnd_"
_SHAPE = re.compile(r"^[A-Za-z0-9._~+/=-]{16,200}$")  # RFC 6750's b64token, bounded


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """A Bearer credential's syntax (RFC 6750 b64token), 16 to 200 characters."""
    return bool(_SHAPE.match(token))
