"""The local stack's PostgreSQL is durable on `up` and the demo (a 202 there survives a host
crash), and only throw-away test stacks turn fsync and synchronous_commit off."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg

from devstack import child
from devstack.postgres import EmbeddedPostgres
from devstack.stack import StackConfig


async def settings_of(port: int) -> dict[str, str]:
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    try:
        return {name: await conn.fetchval(f"SHOW {name}") for name in ("fsync", "synchronous_commit",
                                                                       "full_page_writes")}
    finally:
        await conn.close()


def test_up_and_the_demo_keep_durability_and_test_stacks_say_they_do_not(tmp_path):
    assert StackConfig.default(tmp_path / "up").durable_database is True
    assert StackConfig.ephemeral(tmp_path / "test").durable_database is False


def test_the_durable_cluster_runs_with_fsync_and_synchronous_commit_on():
    state = Path(tempfile.mkdtemp(prefix="handoff-durable-"))
    [port] = child.free_ports(1)
    postgres = EmbeddedPostgres(state_dir=state, log_path=state / "postgres.log", port=port)
    try:
        postgres.start()
        postgres.wait_ready()
        assert asyncio.run(settings_of(port)) == {"fsync": "on", "synchronous_commit": "on",
                                                  "full_page_writes": "on"}
    finally:
        postgres.stop()
        shutil.rmtree(state, ignore_errors=True)


def test_the_test_database_trades_durability_for_speed(database_url):
    port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    assert asyncio.run(settings_of(port))["fsync"] == "off"
