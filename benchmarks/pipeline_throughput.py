"""How many leads per second go through the whole pipeline, intake to routing decision,
posted one by one and through the batch endpoint, on the same stack.

Starts its own stack on free loopback ports (as the tests do), with the rate limits lifted
(this measures capacity, not the limits), posts N leads with some concurrency, then N more
in batches, and watches lead.routed.v1 / lead.nurture.v1 for the decisions. Prints
figures; asserts nothing about speed.

    .venv/bin/python -m benchmarks.pipeline_throughput --leads 1000 --concurrency 32 --batch-size 500

``benchmarks.compare`` measures the same next to a raw Kafka relay and a bare FastAPI app,
and reuses the pieces below.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

from benchmarks.arrivals import Arrivals
from benchmarks.figures import latency_line
from benchmarks.http_load import LoadClient
from devstack.stack import Stack, StackConfig
from shared.events.topics import LEAD_NURTURE, LEAD_ROUTED

UNLIMITED = json.dumps({"requests": 1_000_000, "per_seconds": 1})
DECISION_TOPICS = (LEAD_ROUTED, LEAD_NURTURE)


def stack_config(state_dir: Path) -> StackConfig:
    """A throw-away stack on free ports with intake's rate limits lifted: capacity, not the limits."""
    env = {"HANDOFF_INTAKE_RATE_LIMIT_PER_SOURCE": UNLIMITED, "HANDOFF_INTAKE_RATE_LIMIT_PER_ADDRESS": UNLIMITED}
    return StackConfig.ephemeral(state_dir, service_env={"intake": env})


def lead(i: int, run: str) -> dict[str, Any]:
    """Half qualified (routed), half not (nurtured), each a new person: no dedupe shortcuts."""
    good = i % 2 == 0
    return {"email": f"bench{i}.{run}@company{i % 97}.com", "job_title": "VP Sales" if good else "Intern",
            "company_size": 300 if good else 5, "industry": "software", "country": "US"}


def _decided_lead(record: ConsumerRecord) -> Hashable:
    """The lead a decision is about; orjson rather than the Envelope model, so the watcher
    costs the machine as little as it can while the pipeline runs."""
    return uuid.UUID(orjson.loads(record.value)["lead_id"])


def decisions(stack: Stack) -> Arrivals:
    """When each lead was routed or nurtured, from now on."""
    return Arrivals(stack.kafka_bootstrap, [(t.name, t.partitions) for t in DECISION_TOPICS], _decided_lead)


def intake_client(stack: Stack, connections: int) -> LoadClient:
    """``connections`` kept open to intake, with the web form's key (``benchmarks.http_load``:
    a client that costs the two shared cores next to nothing)."""
    key = stack.secrets.intake_api_keys["web-form"]
    return LoadClient(stack.urls["intake"], connections, headers={"Authorization": f"Bearer {key}"})


Post = Callable[[LoadClient, list[int], str], Awaitable[dict[uuid.UUID, float]]]


async def post_singly(client: LoadClient, numbers: list[int], run: str) -> dict[uuid.UUID, float]:
    posted_at: dict[uuid.UUID, float] = {}
    for i in numbers:
        sent = time.monotonic()
        response = await client.post("/leads", json=lead(i, run))
        response.raise_for_status()
        posted_at[uuid.UUID(response.json()["lead_id"])] = sent
    return posted_at


async def post_in_batches(client: LoadClient, numbers: list[int], run: str,
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


def in_batches(batch_size: int) -> Post:
    async def post(client: LoadClient, numbers: list[int], run: str) -> dict[uuid.UUID, float]:
        return await post_in_batches(client, numbers, run, batch_size)
    return post


@dataclass(frozen=True)
class PipelineRun:
    label: str
    leads: int
    posting_s: float  # first post to last answer
    deciding_s: float  # first post to last decision
    latencies: list[float]  # sorted, post (or its scheduled moment) -> decision

    @property
    def accepted_rate(self) -> float:
        return self.leads / self.posting_s

    @property
    def decided_rate(self) -> float:
        """Sustained leads decided (routed or nurtured) a second."""
        return self.leads / self.deciding_s


async def measure(client: LoadClient, watch: Arrivals, label: str, leads: int, concurrency: int,
                  post: Post, timeout: float = 300) -> PipelineRun:
    """Post ``leads`` new leads, ``concurrency`` posts in flight, and wait for every decision."""
    run = uuid.uuid4().hex[:6]
    shares = [list(range(leads))[n::concurrency] for n in range(concurrency)]
    started = time.monotonic()
    parts = await asyncio.gather(*(post(client, share, run) for share in shares if share))
    posted = time.monotonic() - started
    posted_at: dict[Hashable, float] = {lead_id: at for part in parts for lead_id, at in part.items()}
    await watch.wait_for(posted_at, timeout)
    return PipelineRun(label, leads, posted, watch.last(posted_at) - started, watch.latencies(posted_at))


async def measure_paced(client: LoadClient, watch: Arrivals, leads: int, rate: float,
                        timeout: float = 300) -> PipelineRun:
    """Post ``leads`` single leads at ``rate`` a second on a fixed schedule (open loop: each post
    is sent at its moment whether or not the ones before were answered); latency counts from
    the scheduled moment, so a stall is not hidden by the posts it delayed."""
    run = uuid.uuid4().hex[:6]

    async def post_at(i: int, scheduled: float) -> tuple[uuid.UUID, float]:
        response = await client.post("/leads", json=lead(i, run))
        response.raise_for_status()
        return uuid.UUID(response.json()["lead_id"]), scheduled

    start = time.monotonic()
    tasks = []
    for i in range(leads):
        scheduled = start + i / rate
        if scheduled > time.monotonic():
            await asyncio.sleep(scheduled - time.monotonic())
        tasks.append(asyncio.create_task(post_at(i, scheduled)))
    answers = await asyncio.gather(*tasks)
    posted = time.monotonic() - start
    posted_at: dict[Hashable, float] = dict(answers)
    await watch.wait_for(posted_at, timeout)
    return PipelineRun(f"paced at {rate:.0f} leads/s", leads, posted, watch.last(posted_at) - start,
                       watch.latencies(posted_at))


def print_run(run: PipelineRun) -> None:
    print(f"{run.label}: {run.leads} leads")
    print(f"  intake accepted      {run.accepted_rate:8.1f} leads/s ({run.posting_s:.2f} s for {run.leads})")
    print(f"  end to end           {run.decided_rate:8.1f} leads/s "
          f"(first post to last decision {run.deciding_s:.2f} s)")
    print(f"  post -> decision     {latency_line(run.latencies)}")


async def main(leads: int, concurrency: int, batch_size: int, batch_concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, Stack(stack_config(Path(tmp))) as stack:
        async with decisions(stack) as watch, intake_client(stack, max(concurrency, batch_concurrency)) as client:
            print_run(await measure(client, watch, "single posts (POST /leads)", leads, concurrency, post_singly))
            if batch_size:
                print_run(await measure(client, watch, f"batches of {batch_size} (POST /leads/batch)", leads,
                                        batch_concurrency, in_batches(batch_size)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32, help="single posts in flight at once")
    parser.add_argument("--batch-size", type=int, default=500, help="leads per batch; 0 skips the batch run")
    parser.add_argument("--batch-concurrency", type=int, default=2, help="batches in flight at once")
    args = parser.parse_args()
    asyncio.run(main(args.leads, args.concurrency, args.batch_size, args.batch_concurrency))
