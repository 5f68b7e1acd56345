"""How many leads per second go through the whole pipeline, intake to routing decision.

Starts its own stack on free loopback ports (as the tests do), posts N leads with
some concurrency, and watches lead.routed.v1 / lead.nurture.v1 for the decisions.
Prints figures; asserts nothing about speed.

    .venv/bin/python -m benchmarks.pipeline_throughput --leads 1000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack.stack import Stack, StackConfig
from shared.events.envelope import Envelope
from shared.events.topics import LEAD_NURTURE, LEAD_ROUTED


def lead(i: int, run: str) -> dict[str, Any]:
    good = i % 2 == 0
    return {"email": f"bench{i}.{run}@company{i % 97}.com", "job_title": "VP Sales" if good else "Intern",
            "company_size": 300 if good else 5, "industry": "software", "country": "US"}


async def main(leads: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, Stack(StackConfig.ephemeral(Path(tmp))) as stack:
        run = uuid.uuid4().hex[:6]
        key = stack.secrets.intake_api_keys["web-form"]
        topics = [LEAD_ROUTED, LEAD_NURTURE]
        reader = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
        await reader.start()
        partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        reader.assign(partitions)
        for tp, offset in (await reader.end_offsets(partitions)).items():
            reader.seek(tp, offset)

        posted_at: dict[uuid.UUID, float] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(leads):
            queue.put_nowait(i)

        async def poster(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                sent = time.monotonic()
                response = await client.post("/leads", json=lead(i, run))
                response.raise_for_status()
                posted_at[uuid.UUID(response.json()["lead_id"])] = sent

        decided: dict[uuid.UUID, float] = {}

        async def watcher() -> None:
            while len(decided) < leads:
                for records in (await reader.getmany(timeout_ms=200)).values():
                    now = time.monotonic()
                    for record in records:
                        decided.setdefault(Envelope.from_bytes(record.value).lead_id, now)

        print(f"posting {leads} leads, {concurrency} at a time ...")
        started = time.monotonic()
        watch = asyncio.create_task(watcher())
        async with httpx.AsyncClient(base_url=stack.urls["intake"], timeout=30,
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            await asyncio.gather(*(poster(client) for _ in range(concurrency)))
        posted = time.monotonic() - started
        await asyncio.wait_for(watch, timeout=300)
        finished = max(decided.values()) - started
        await reader.stop()

        latencies = sorted(decided[lead_id] - posted_at[lead_id] for lead_id in posted_at)
        print(f"intake accepted      {leads / posted:8.1f} leads/s ({posted:.2f} s for {leads})")
        print(f"end to end           {leads / finished:8.1f} leads/s (first post to last decision {finished:.2f} s)")
        print(f"post -> decision     p50 {statistics.median(latencies) * 1000:7.0f} ms   "
              f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:7.0f} ms   "
              f"max {latencies[-1] * 1000:7.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.leads, args.concurrency))
