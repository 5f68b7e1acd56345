"""The pipeline against yardsticks on the same machine, in one run on one stack: how far the
services are from what Kafka, PostgreSQL and uvicorn alone do with the same records.

Starts a stack of its own (free loopback ports, rate limits lifted, as
``benchmarks.pipeline_throughput``) and, against its broker and database, measures:

1. a raw 4-hop aiokafka relay of the pipeline's own lead events (``benchmarks.relay``):
   records/s and produce-to-last-hop latency, then p50/p95/p99 at half that rate, paced;
2. the same relay with one multi-row INSERT per batch and hop, into a scratch schema;
3. the pipeline, single posts and batches: leads decided (routed or nurtured) a second,
   with CPU seconds and RSS per process per 1,000 leads (/proc) and SQL statements per lead
   and per consumer batch (each service's /metrics), then post-to-decision latency at half
   the single-post rate, paced;
4. a bare FastAPI echo app (``benchmarks.echo_server``) next to intake's POST /leads with
   the other services paused: requests a second at the same concurrency;
5. the pipeline again after ``--history`` more leads went through it;

then a table of ratios against the targets, each marked met or not met. Prints figures;
asserts nothing about speed. The default run takes a few minutes on two cores:

    .venv/bin/python -m benchmarks.compare
    .venv/bin/python -m benchmarks.compare --leads 2000 --history 100000   # history at scale
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks import proc_sampling, relay, sql_counts
from benchmarks.arrivals import Arrivals
from benchmarks.echo_server import EchoServer
from benchmarks.figures import latency_line, percentile, ratio
from benchmarks.http_load import LoadClient
from benchmarks.pipeline_throughput import (
    PipelineRun,
    Post,
    decisions,
    in_batches,
    intake_client,
    lead,
    measure,
    measure_paced,
    post_singly,
    print_run,
    stack_config,
)
from devstack.stack import Stack
from shared.events.topics import LEAD_CAPTURED, LEAD_NURTURE, LEAD_ROUTED, LEAD_SCORED

HOPS = 4
PARTITIONS = LEAD_CAPTURED.partitions  # the bench topics get as many as the pipeline's
LEAD_EVENT_TOPICS = (LEAD_CAPTURED, LEAD_SCORED, LEAD_ROUTED, LEAD_NURTURE)
DOWNSTREAM = ("scoring", "routing", "feedback")  # paused while intake is measured alone
WARM_UP = 100


@dataclass(frozen=True)
class Options:
    leads: int
    concurrency: int
    batch_size: int
    batch_concurrency: int
    relay_records: int
    latency_seconds: float
    latency_max: int
    requests: int
    history: int

    def half_load_count(self, rate: float) -> int:
        """How many records or leads a half-load run sends: ``latency_seconds`` worth, bounded."""
        return max(50, min(self.latency_max, int(rate / 2 * self.latency_seconds)))


@dataclass
class Results:
    """Everything the ratio table is computed from; None where a phase was skipped."""

    relay_raw: relay.RelayRun | None = None
    relay_raw_half: relay.RelayRun | None = None
    relay_db: relay.RelayRun | None = None
    single: PipelineRun | None = None
    batch: PipelineRun | None = None
    pipeline_half: PipelineRun | None = None
    echo_rate: float = math.nan
    intake_rate: float = math.nan
    sql: list[tuple[str, sql_counts.SqlFigures]] = field(default_factory=list)
    after_history: list[tuple[PipelineRun, PipelineRun]] = field(default_factory=list)  # (before, after)
    posted: int = 0  # leads the pipeline has seen so far: its history


def heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 86 - len(text)), flush=True)


# ---- the records of the relay -------------------------------------------------------

async def lead_events(bootstrap: str, limit: int = 400) -> list[bytes]:
    """The values of the lead events on the pipeline's topics now (after the warm-up): the relay
    carries these very bytes, so both move records of the same size."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await reader.start()
    try:
        partitions = [TopicPartition(t.name, p) for t in LEAD_EVENT_TOPICS for p in range(t.partitions)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        values: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(values) < limit and time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=500)).values():
                values += [r.value for r in records if r.value]
            if all([await reader.position(tp) >= end for tp, end in ends.items()]):
                break
        return values[:limit]
    finally:
        await reader.stop()


# ---- phases ----------------------------------------------------------------------

async def relay_run(stack: Stack, templates: Sequence[bytes], opts: Options, logs: Path, *,
                    with_database: bool, half_load: bool) -> tuple[relay.RelayRun, relay.RelayRun | None]:
    """One relay on fresh topics (and a fresh scratch schema with a database), removed after."""
    run = uuid.uuid4().hex[:6]
    kind = "db" if with_database else "raw"
    topics = [f"bench.{run}.{kind}.{n}" for n in range(HOPS + 1)]
    schema = f"bench_relay_{run}"
    dsn = relay.asyncpg_dsn(stack.database_url)
    await relay.create_topics(stack.kafka_bootstrap, topics, PARTITIONS)
    table = await relay.create_scratch_table(dsn, schema) if with_database else None
    try:
        with relay.Hops(stack.kafka_bootstrap, topics, logs, dsn=dsn if table else None, table=table) as hops:
            async with relay.Relay(stack.kafka_bootstrap, topics, PARTITIONS, templates) as driver:
                await driver.burst(WARM_UP, timeout=120)  # groups joined, connections open, code warm
                before = proc_sampling.sample_all(hops.pids)
                sustained = await driver.burst(opts.relay_records)
                after = proc_sampling.sample_all(hops.pids)
                print_relay(sustained, "sustained")
                print_cpu(proc_sampling.per_thousand(before, after, sustained.records), "records")
                half = None
                if half_load:
                    rate = sustained.rate / 2
                    half = await driver.paced(opts.half_load_count(sustained.rate), rate)
                    print_relay(half, f"half load, paced at {rate:.0f} records/s")
        return sustained, half
    finally:
        if table:
            await relay.drop_scratch_schema(dsn, schema)
        await relay.delete_topics(stack.kafka_bootstrap, topics)


def print_relay(run: relay.RelayRun, label: str) -> None:
    print(f"  {label}: {run.records} records, {run.rate:8.1f} records/s (first send to last arrival "
          f"{run.seconds:.2f} s)")
    print(f"    produce -> hop {HOPS} consumed   {latency_line(run.latencies)}")


async def settle(urls: Mapping[str, str], timeout: float = 15) -> None:
    """Wait until no service consumes anything more (feedback still records the last decisions
    when the benchmark sees them), so counters and CPU cover the whole of a run's work."""
    def consumed(counts: Mapping[str, sql_counts.Counts]) -> float:
        return sum(v for c in counts.values() for (name, _), v in c.items() if name == sql_counts.CONSUMED)

    deadline = time.monotonic() + timeout
    last = consumed(await sql_counts.scrape_all(urls))
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = consumed(await sql_counts.scrape_all(urls))
        if now == last:
            return
        last = now


async def pipeline_run(stack: Stack, client: LoadClient, watch: Arrivals, results: Results, label: str,
                       leads: int, concurrency: int, post: Post, *, sampled: bool) -> PipelineRun:
    """One pipeline run; ``sampled``: with CPU, RSS and SQL statements per lead printed."""
    pids = proc_sampling.stack_pids(stack)
    counts_before = await sql_counts.scrape_all(stack.urls) if sampled else {}
    cpu_before = proc_sampling.sample_all(pids)
    result = await measure(client, watch, label, leads, concurrency, post)
    results.posted += leads
    print_run(result)
    if sampled:
        await settle(stack.urls)
        print_cpu(proc_sampling.per_thousand(cpu_before, proc_sampling.sample_all(pids), leads), "leads")
        sql = sql_counts.figures(counts_before, await sql_counts.scrape_all(stack.urls), leads)
        sql_counts.print_figures(sql)
        results.sql.append((label, sql))
    return result


def print_cpu(figures: Mapping[str, tuple[float, int, int]], unit: str) -> None:
    print(f"  CPU and memory per process ({unit}: CPU seconds per 1,000; RSS before -> after)")
    for name, (cpu, rss_before, rss_after) in figures.items():
        print(f"    {name:14} {cpu:7.3f} s per 1,000 {unit}   RSS {rss_before / 1024:7.1f} -> "
              f"{rss_after / 1024:7.1f} MB")


async def request_rate(client: LoadClient, count: int, concurrency: int) -> tuple[float, list[str]]:
    """POST /leads ``count`` times, ``concurrency`` at a time: requests a second and the lead ids answered."""
    run = uuid.uuid4().hex[:6]
    numbers = list(range(count))
    ids: list[str] = []

    async def worker(share: list[int]) -> None:
        for i in share:
            response = await client.post("/leads", json=lead(i, run))
            response.raise_for_status()
            ids.append(response.json()["lead_id"])

    started = time.monotonic()
    await asyncio.gather(*(worker(numbers[n::concurrency]) for n in range(concurrency)))
    return count / (time.monotonic() - started), ids


@contextlib.contextmanager
def paused(pids: Sequence[int]) -> Iterator[None]:
    """SIGSTOP the processes for the block, SIGCONT them after whatever happens: intake measured
    alone, as the echo app is, not competing with the consumers for the two cores."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


async def http_comparison(stack: Stack, client: LoadClient, watch: Arrivals, results: Results,
                          opts: Options, logs: Path) -> None:
    """Requests a second and CPU per 1,000 requests: the bare echo app, then intake alone."""
    pids = proc_sampling.stack_pids(stack)
    with EchoServer(logs / "echo.log") as echo:
        async with LoadClient(echo.url, opts.concurrency) as echo_client:
            await request_rate(echo_client, WARM_UP, opts.concurrency)
            assert echo.process is not None
            before = proc_sampling.sample_all({"echo": echo.process.pid})
            results.echo_rate, _ = await request_rate(echo_client, opts.requests, opts.concurrency)
            echo_cpu = proc_sampling.per_thousand(before, proc_sampling.sample_all({"echo": echo.process.pid}),
                                                  opts.requests, ["echo"])["echo"][0]
    print(f"  bare FastAPI echo      {results.echo_rate:8.1f} req/s   {echo_cpu:6.3f} CPU s per 1,000 requests")
    with paused([pids[name] for name in DOWNSTREAM if name in pids]):
        before = proc_sampling.sample_all({"intake": pids["intake"]})
        results.intake_rate, ids = await request_rate(client, opts.requests, opts.concurrency)
        intake_cpu = proc_sampling.per_thousand(before, proc_sampling.sample_all({"intake": pids["intake"]}),
                                                opts.requests, ["intake"])["intake"][0]
    print(f"  intake POST /leads     {results.intake_rate:8.1f} req/s   {intake_cpu:6.3f} CPU s per 1,000 requests "
          f"(scoring, routing, feedback paused)")
    results.posted += len(ids)
    await watch.wait_for({uuid.UUID(i) for i in ids}, timeout=300)  # the pipeline drained before the next phase


async def history_phase(stack: Stack, client: LoadClient, watch: Arrivals, results: Results,
                        opts: Options) -> None:
    """Load ``--history`` leads through the batch endpoint, then run single posts and batches again."""
    before = [r for r in (results.single, results.batch) if r is not None]
    print(f"  history before: {results.posted} leads")
    loading = await measure(client, watch, "loading history", opts.history, opts.batch_concurrency,
                            in_batches(opts.batch_size or 500), timeout=max(300.0, opts.history / 20))
    results.posted += opts.history
    print(f"  loaded {opts.history} leads at {loading.decided_rate:.1f} leads/s; history now {results.posted} leads")
    for earlier in before:
        post = post_singly if earlier is results.single else in_batches(opts.batch_size)
        concurrency = opts.concurrency if earlier is results.single else opts.batch_concurrency
        again = await pipeline_run(stack, client, watch, results, earlier.label, opts.leads, concurrency, post,
                                   sampled=False)
        results.after_history.append((earlier, again))
    for earlier, again in results.after_history:
        print(f"  {earlier.label:44} {earlier.decided_rate:8.1f} -> {again.decided_rate:8.1f} leads/s "
              f"(after {opts.history} more leads)")


# ---- the table -------------------------------------------------------------------

def verdict(value: float, met: Callable[[float], bool]) -> str:
    if math.isnan(value):
        return "n/a"
    return "met" if met(value) else "NOT MET"


def print_ratios(results: Results) -> None:
    """Each ratio against its target, met or not: the point of the run."""
    heading("ratios against the targets")
    raw = results.relay_raw.rate if results.relay_raw else math.nan
    rows: list[tuple[str, float, str, Callable[[float], bool]]] = [
        ("pipeline / raw relay, batches (leads/s over records/s)",
         ratio(results.batch.decided_rate, raw) if results.batch else math.nan, ">= 0.5", lambda v: v >= 0.5),
        ("pipeline / raw relay, single posts",
         ratio(results.single.decided_rate, raw) if results.single else math.nan, ">= 0.25", lambda v: v >= 0.25),
        ("p99 at half load, pipeline / raw relay",
         ratio(percentile(results.pipeline_half.latencies, 0.99), percentile(results.relay_raw_half.latencies, 0.99))
         if results.pipeline_half and results.relay_raw_half else math.nan, "<= 3", lambda v: v <= 3),
        ("intake POST /leads / bare FastAPI echo (req/s)",
         ratio(results.intake_rate, results.echo_rate), ">= 0.5", lambda v: v >= 0.5),
    ]
    worst = [(label, sql.worst_consumer) for label, sql in results.sql if sql.worst_consumer]
    label, consumer = max(worst, key=lambda w: w[1].per_batch) if worst else ("", None)
    rows.append(("max SQL statements per batch of a consumer",
                 consumer.per_batch if consumer else math.nan, "<= 8", lambda v: v <= 8))
    for earlier, again in results.after_history:
        rows.append((f"after history / before, {earlier.label.split(' (')[0]}",
                     ratio(again.decided_rate, earlier.decided_rate), ">= 0.9 (does not fall)", lambda v: v >= 0.9))
    print(f"  {'ratio':58} {'value':>9}   {'target':24} verdict")
    for name, value, target, met in rows:
        print(f"  {name:58} {value:9.2f}   {target:24} {verdict(value, met)}")
    if consumer:
        print(f"  (the max: {consumer.group} during {label})")
    if results.relay_db and results.batch:
        print(f"  for reference, no target: pipeline batches / relay with an INSERT per batch = "
              f"{ratio(results.batch.decided_rate, results.relay_db.rate):.2f}")


# ---- the run ---------------------------------------------------------------------

async def run(opts: Options) -> None:
    with tempfile.TemporaryDirectory() as tmp, Stack(stack_config(Path(tmp))) as stack:
        logs = Path(tmp) / "bench-logs"
        results = Results()
        connections = max(opts.concurrency, opts.batch_concurrency)
        async with decisions(stack) as watch, intake_client(stack, connections) as client:
            heading(f"warm-up: {WARM_UP} leads in one batch ({os.cpu_count()} CPUs)")
            await measure(client, watch, "warm-up", WARM_UP, 1, in_batches(WARM_UP))
            results.posted += WARM_UP
            templates = await lead_events(stack.kafka_bootstrap)
            size = sum(map(len, templates)) / len(templates)
            print(f"  the relay carries {len(templates)} of the pipeline's lead events, {size:.0f} bytes on average")

            heading(f"1. raw relay: {HOPS} hops, {PARTITIONS} partitions a topic, acks=all")
            results.relay_raw, results.relay_raw_half = await relay_run(stack, templates, opts, logs,
                                                                        with_database=False, half_load=True)
            heading(f"2. relay with one multi-row INSERT per batch and hop ({HOPS} hops)")
            results.relay_db, _ = await relay_run(stack, templates, opts, logs, with_database=True, half_load=False)

            heading("3. pipeline, single posts and batches")
            results.single = await pipeline_run(stack, client, watch, results, "single posts (POST /leads)",
                                                opts.leads, opts.concurrency, post_singly, sampled=True)
            if opts.batch_size:
                results.batch = await pipeline_run(stack, client, watch, results,
                                                   f"batches of {opts.batch_size} (POST /leads/batch)", opts.leads,
                                                   opts.batch_concurrency, in_batches(opts.batch_size), sampled=True)

            heading("4. latency at half load, pipeline (single posts, open loop)")
            rate = results.single.decided_rate / 2
            async with intake_client(stack, 256) as paced_client:
                results.pipeline_half = await measure_paced(paced_client, watch,
                                                            opts.half_load_count(results.single.decided_rate), rate)
            results.posted += results.pipeline_half.leads
            print_run(results.pipeline_half)
            if results.relay_raw_half:
                print("  raw relay at half load, for comparison:")
                print_relay(results.relay_raw_half, f"paced at {results.relay_raw.rate / 2:.0f} records/s")

            heading(f"5. HTTP alone: {opts.requests} requests, {opts.concurrency} at a time")
            await http_comparison(stack, client, watch, results, opts, logs)

            if opts.history:
                heading(f"6. history: the pipeline after {opts.history} more leads")
                await history_phase(stack, client, watch, results, opts)
        print_ratios(results)


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000, help="leads per pipeline run")
    parser.add_argument("--concurrency", type=int, default=32, help="single posts (and HTTP requests) in flight")
    parser.add_argument("--batch-size", type=int, default=500, help="leads per batch; 0 skips the batch run")
    parser.add_argument("--batch-concurrency", type=int, default=2, help="batches in flight at once")
    parser.add_argument("--relay-records", type=int, default=10_000, help="records per sustained relay run")
    parser.add_argument("--latency-seconds", type=float, default=5.0, help="length of each half-load run")
    parser.add_argument("--latency-max", type=int, default=20_000, help="at most this many in a half-load run")
    parser.add_argument("--requests", type=int, default=1000, help="requests to the echo app and to intake")
    parser.add_argument("--history", type=int, default=2000,
                        help="leads loaded before the pipeline is measured again; 0 skips (e.g. 100000)")
    args = parser.parse_args()
    return Options(**vars(args))


if __name__ == "__main__":
    uvloop.run(run(parse_options()))
