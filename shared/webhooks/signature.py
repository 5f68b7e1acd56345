"""Signed webhooks, both ways (CRM outcomes in, routed leads out): HMAC-SHA256 over
'<timestamp>.<raw body>'.

Header: ``Handoff-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]``; more than
one v1 lets a secret be rotated without downtime.
"""

from __future__ import annotations

import hashlib
import hmac
import re

DEFAULT_TOLERANCE_S = 300
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits only, and no more than a real timestamp has
_HEX = re.compile(r"[0-9a-fA-F]{1,128}")
MAX_HEADER_LENGTH = 2048


class SignatureRefused(ValueError):
    """Why a webhook was not believed; the text is safe to log and to return."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(header: str | None, body: bytes, secrets: list[str], now: float,
           tolerance_s: int = DEFAULT_TOLERANCE_S) -> int:
    """Return the signed timestamp, or raise SignatureRefused saying why."""
    if not header:
        raise SignatureRefused("missing Handoff-Signature header")
    if len(header) > MAX_HEADER_LENGTH:
        raise SignatureRefused(f"malformed Handoff-Signature header: longer than {MAX_HEADER_LENGTH} characters")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and _UNIX_SECONDS.fullmatch(value):
            timestamp = int(value)
        elif name == "v1" and _HEX.fullmatch(value):
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureRefused("malformed Handoff-Signature header: expected t=<unix>,v1=<hex>")
    if abs(now - timestamp) > tolerance_s:
        raise SignatureRefused(f"timestamp outside the {tolerance_s} s tolerance window")
    matched = False
    for secret in secrets:
        expected = sign(secret, timestamp, body)
        for candidate in candidates:
            matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise SignatureRefused("signature does not match")
    return timestamp
