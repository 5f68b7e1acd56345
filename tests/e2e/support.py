"""Small helpers shared by the runtime tests."""

from __future__ import annotations

import asyncio

from shared.events.envelope import Envelope
from shared.events.payloads import LeadNurtured
from shared.identity import lead_id_for


def nurture_event(email: str) -> Envelope:
    return Envelope(type="lead.nurture", lead_id=lead_id_for(email), correlation_id="itest", producer="itest",
                    payload=LeadNurtured(email=email, cycle=1, reason="test").model_dump(mode="json"))


async def wait_until(probe, timeout_s: float = 20.0):
    async with asyncio.timeout(timeout_s):
        while not (result := await probe()):
            await asyncio.sleep(0.1)
    return result
