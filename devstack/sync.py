"""Run a coroutine from synchronous code, whatever the calling thread is doing.

The stack's API is synchronous so it works the same from a script, the CLI, or a
pytest fixture that already runs inside an event loop; `asyncio.run` refuses the last
case, so the coroutine gets a fresh loop on a short-lived thread instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on its own event loop and return its result."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="devstack-aio") as pool:
        return pool.submit(asyncio.run, coro).result()
