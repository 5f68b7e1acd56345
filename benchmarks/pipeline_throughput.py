"""How many leads per second go through the whole pipeline, intake to routing decision,
posted one by one and through the batch endpoint, on the same stack.

Starts its own stack on free loopback ports (as the tests do), with the rate limits lifted
(this measures capacity, not the limits), posts N leads with some concurrency, then N more
in batches, and watches lead.routed.v1 / lead.nurture.v1 for the decisions. Prints
figures; asserts nothing about speed.

    .venv/bin/python -m benchmarks.pipeline_throughput --leads 1000 --concurrency 32 --batch-size 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack.stack import Stack, StackConfig
from shared.events.envelope import Envelope
from shared.events.topics import LEAD_NURTURE, LEAD_ROUTED

UNLIMITED = json.dumps({"requests": 1_000_000, "per_seconds": 1})


def lead(i: int, run: str) -> dict[str, Any]:
    good = i % 2 == 0
    return {"email": f"bench{i}.{run}@company{i % 97}.com", "job_title": "VP Sales" if good else "Intern",
            "company_size": 300 if good else 5, "industry": "software", "country": "US"}


Post = Callable[[httpx.AsyncClient, list[int], str], Awaitable[dict[uuid.UUID, float]]]


async def post_singly(client: httpx.AsyncClient, numbers: list[int], run: str) -> dict[uuid.UUID, float]:
    posted_at: dict[uuid.UUID, float] = {}
    for i in numbers:
        sent = time.monotonic()
        response = await client.post("/leads", json=lead(i, run))
        response.raise_for_status()
        posted_at[uuid.UUID(response.json()["lead_id"])] = sent
    return posted_at


async def post_in_batches(client: httpx.AsyncClient, numbers: list[int], run: str,
                          batch_size: int) -> dict[uuid.UUID, float]:
    posted_at: dict[uuid.UUID, float] = {}
    for start in range(0, len(numbers), batch_size):
        sent = time.monotonic()
        response = await client.post("/leads/batch", json={"leads": [lead(i, run) for i in
                                                                      numbers[start:start + batch_size]]})
        response.raise_for_status()
        answer = response.json()
        if answer["refused"]:
            raise RuntimeError(f"{answer['refused']} leads of a batch were refused: {answer['items'][:3]}")
        posted_at.update({uuid.UUID(item["lead_id"]): sent for item in answer["items"]})
    return posted_at


async def measure(stack: Stack, label: str, leads: int, concurrency: int, post: Post) -> None:
    run = uuid.uuid4().hex[:6]
    key = stack.secrets.intake_api_keys["web-form"]
    topics = [LEAD_ROUTED, LEAD_NURTURE]
    reader = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await reader.start()
    partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
    reader.assign(partitions)
    for tp, offset in (await reader.end_offsets(partitions)).items():
        reader.seek(tp, offset)
    decided: dict[uuid.UUID, float] = {}

    async def watcher() -> None:
        while len(decided) < leads:
            for records in (await reader.getmany(timeout_ms=200)).values():
                now = time.monotonic()
                for record in records:
                    decided.setdefault(Envelope.from_bytes(record.value).lead_id, now)

    shares = [list(range(leads))[n::concurrency] for n in range(concurrency)]
    print(f"{label}: posting {leads} leads, {concurrency} requests at a time ...")
    started = time.monotonic()
    watch = asyncio.create_task(watcher())
    async with httpx.AsyncClient(base_url=stack.urls["intake"], timeout=60,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        parts = await asyncio.gather(*(post(client, share, run) for share in shares if share))
    posted = time.monotonic() - started
    await asyncio.wait_for(watch, timeout=300)
    finished = max(decided.values()) - started
    await reader.stop()

    posted_at = {lead_id: at for part in parts for lead_id, at in part.items()}
    latencies = sorted(decided[lead_id] - posted_at[lead_id] for lead_id in posted_at)
    print(f"  intake accepted      {leads / posted:8.1f} leads/s ({posted:.2f} s for {leads})")
    print(f"  end to end           {leads / finished:8.1f} leads/s (first post to last decision {finished:.2f} s)")
    print(f"  post -> decision     p50 {statistics.median(latencies) * 1000:7.0f} ms   "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:7.0f} ms   "
          f"max {latencies[-1] * 1000:7.0f} ms")


async def main(leads: int, concurrency: int, batch_size: int, batch_concurrency: int) -> None:
    env = {"HANDOFF_INTAKE_RATE_LIMIT_PER_SOURCE": UNLIMITED, "HANDOFF_INTAKE_RATE_LIMIT_PER_ADDRESS": UNLIMITED}
    with tempfile.TemporaryDirectory() as tmp, Stack(StackConfig.ephemeral(Path(tmp),
                                                                           service_env={"intake": env})) as stack:
        await measure(stack, "single posts (POST /leads)", leads, concurrency, post_singly)
        if batch_size:
            async def batches(client: httpx.AsyncClient, numbers: list[int], run: str) -> dict[uuid.UUID, float]:
                return await post_in_batches(client, numbers, run, batch_size)
            await measure(stack, f"batches of {batch_size} (POST /leads/batch)", leads, batch_concurrency, batches)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32, help="single posts in flight at once")
    parser.add_argument("--batch-size", type=int, default=500, help="leads per batch; 0 skips the batch run")
    parser.add_argument("--batch-concurrency", type=int, default=2, help="batches in flight at once")
    args = parser.parse_args()
    asyncio.run(main(args.leads, args.concurrency, args.batch_size, args.batch_concurrency))
