"""HubSpot's webhook signature, version 3.

``X-HubSpot-Signature-v3`` is base64(HMAC-SHA256(client secret, method + URI + raw
body + timestamp)), and ``X-HubSpot-Request-Timestamp`` is that timestamp in
milliseconds. The URI is the full URL HubSpot called, with the characters HubSpot
lists decoded, so behind a proxy the public URL must be configured rather than
taken from the request we see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from shared.webhooks.signature import SignatureRefused

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
DEFAULT_TOLERANCE_MS = 5 * 60 * 1000
_UNIX_MILLISECONDS = re.compile(r"[0-9]{1,15}")  # ASCII digits only, no longer than a real timestamp
MAX_SIGNATURE_LENGTH = 512

# HubSpot decodes exactly these before signing; anything else stays percent-encoded
_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
            "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def canonical_uri(uri: str) -> str:
    for encoded, plain in _DECODED.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    return uri


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + canonical_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_v3(signature: str | None, timestamp: str | None, *, method: str, uri: str, body: bytes,
              secrets: list[str], now_ms: int, tolerance_ms: int = DEFAULT_TOLERANCE_MS) -> int:
    """Return the request's timestamp (ms), or raise SignatureRefused saying why."""
    if not signature:
        raise SignatureRefused(f"missing {SIGNATURE_HEADER} header")
    if len(signature) > MAX_SIGNATURE_LENGTH:
        raise SignatureRefused(f"malformed {SIGNATURE_HEADER} header: longer than {MAX_SIGNATURE_LENGTH} characters")
    if not timestamp or not _UNIX_MILLISECONDS.fullmatch(timestamp):
        raise SignatureRefused(f"missing or malformed {TIMESTAMP_HEADER} header (milliseconds since the epoch)")
    if abs(now_ms - int(timestamp)) > tolerance_ms:
        raise SignatureRefused(f"timestamp outside the {tolerance_ms // 1000} s tolerance window")
    if not secrets:
        raise SignatureRefused("no HubSpot client secret is configured")
    matched = False
    for secret in secrets:
        expected = sign_v3(secret, method, uri, body, timestamp)
        matched |= hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))
    if not matched:
        raise SignatureRefused("signature does not match")
    return int(timestamp)
