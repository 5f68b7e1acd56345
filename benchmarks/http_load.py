"""A keep-alive HTTP/1.1 client that costs the machine next to nothing: the load generator.

The benchmark shares two cores with what it measures. httpx spent about 5 ms of CPU per
request, more than a bare FastAPI app spends answering it, so the echo app measured the
client (190 requests/s) and every HTTP figure was low by the client's share. This client
writes each request as bytes on one of a fixed set of open connections and reads the answer
by its Content-Length (uvicorn sends one for every JSON answer): tens of microseconds a
request. It speaks only what the benchmarks need: POST or GET with a JSON body, answers with
a Content-Length, no redirects, no TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import orjson

STALE_AFTER = 3.0


class HTTPStatusError(RuntimeError):
    pass


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise HTTPStatusError(f"{self.status_code}: {self.content[:300]!r}")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.last_used = time.monotonic()

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, request: bytes) -> Answer:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise HTTPStatusError(f"an answer without Content-Length: {head[:300]!r}")
        answer = Answer(status, await self.reader.readexactly(length))
        self.last_used = time.monotonic()
        return answer


class LoadClient:
    """Up to ``connections`` requests in flight, each on a connection of its own, kept open."""

    def __init__(self, base_url: str, connections: int, headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"an http://host:port URL, not {base_url!r}")
        self._host, self._port = parts.hostname, parts.port
        self._size = connections
        fixed = {"Host": f"{self._host}:{self._port}", "Connection": "keep-alive", **(headers or {})}
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode()
        self._idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
        self._all: list[_Connection] = []

    async def __aenter__(self) -> LoadClient:
        for _ in range(self._size):
            self._idle.put_nowait(await self._open())
        return self

    async def _open(self) -> _Connection:
        connection = _Connection(*await asyncio.open_connection(self._host, self._port))
        self._all.append(connection)
        return connection

    async def request(self, method: str, path: str, json: Any = None) -> Answer:
        body = b"" if json is None else orjson.dumps(json)
        request = (f"{method} {path} HTTP/1.1\r\n".encode() + self._headers
                   + (b"Content-Type: application/json\r\n" if json is not None else b"")
                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        connection = await self._idle.get()
        if connection is not None and time.monotonic() - connection.last_used > STALE_AFTER:
            connection.close()
            connection = None
        if connection is None:
            connection = await self._open()
        try:
            try:
                answer = await connection.exchange(request)
            except (asyncio.IncompleteReadError, ConnectionResetError) as closed:
                if getattr(closed, "partial", b""):
                    raise
                connection.close()  # closed by the server before it read the request
                connection = await self._open()
                answer = await connection.exchange(request)
        except BaseException:
            connection.close()  # perhaps half-read: never reused; the next request opens another
            self._idle.put_nowait(None)
            raise
        self._idle.put_nowait(connection)
        return answer

    async def post(self, path: str, json: Any = None) -> Answer:
        return await self.request("POST", path, json)

    async def get(self, path: str) -> Answer:
        return await self.request("GET", path)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for connection in self._all:
            connection.writer.close()
            with contextlib.suppress(Exception):
                await connection.writer.wait_closed()
