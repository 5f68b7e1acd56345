"""What the CRM receives for a routed lead, and how often a failing delivery is retried (pure).

Body: one JSON document per lead.routed event, serialised once and signed as stored.
Retries never end: after failed attempt *n* a delivery waits
``min(max_backoff_s, base_backoff_s * 2**(n-1))`` with ±20% jitter (clipped at the cap).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

import orjson

from shared.events.envelope import Envelope
from shared.events.payloads import LeadRouted
from shared.webhooks.signature import signature_header

SIGNATURE_HEADER = "Handoff-Signature"
DELIVERY_ID_HEADER = "Handoff-Delivery-Id"
JITTER = 0.2
BODY_EXCERPT_CHARS = 200
ERROR_MAX_CHARS = 500
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})


def crm_body(routed: Envelope) -> bytes:
    """The JSON document the CRM receives for a lead.routed event."""
    if routed.type != LeadRouted.event_type:
        raise ValueError(f"only lead.routed events go to the CRM, not {routed.type!r}")
    payload = LeadRouted.model_validate(routed.payload).model_dump(mode="json")
    envelope = routed.model_dump(mode="json")
    return orjson.dumps({
        "event_id": envelope["event_id"],
        "type": LeadRouted.event_type,
        "lead_id": envelope["lead_id"],
        "email": payload["email"],
        "cycle": payload["cycle"],
        "owner": {"id": payload["owner_id"], "name": payload["owner_name"]},
        "team_id": payload["team_id"],
        "rule": payload["rule"],
        "sla_due_at": payload["sla_due_at"],
        "reason": payload["reason"],
        "reassigned_from": payload["reassigned_from"],
        "occurred_at": envelope["occurred_at"],
    })


def signed_headers(secret: str, body: bytes, delivery_id: uuid.UUID | str, timestamp: int) -> dict[str, str]:
    """The headers of one POST: content type, signature over ``body``, delivery id."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        DELIVERY_ID_HEADER: str(delivery_id),
    }


def backoff_s(attempts: int, *, base_s: float, max_s: float,
              rand: Callable[[], float] = random.random) -> float:
    """How long to wait after failed attempt number ``attempts`` (1 for the first)."""
    exponent = min(max(attempts - 1, 0), 60)  # 2**60 seconds is past any cap; no float overflow
    delay: float = min(max_s, base_s * 2 ** exponent)  # int ** int is typed Any (a negative power is a float)
    return min(max_s, delay * (1 - JITTER + 2 * JITTER * rand()))


def failure_text(status: int, body: str) -> str:
    return f"HTTP {status}: {body[:BODY_EXCERPT_CHARS]}"
