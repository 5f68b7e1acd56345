"""Every request gets a correlation id (the caller's X-Correlation-Id, or a new one),
visible to the logs and to the events the request emits, and echoed in the response."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability.correlation import correlation

HEADER = b"x-correlation-id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class CorrelationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"").decode("latin-1")
        correlation_id = given if _ACCEPTABLE.match(given) else str(uuid.uuid4())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, correlation_id.encode())]
            await send(message)

        with correlation(correlation_id):
            await self.app(scope, receive, send_with_id)
