"""Transactions PostgreSQL ended to resolve a conflict — a deadlock (SQLSTATE 40P01) or a
serialization failure (40001) — are tried again, whole, before anything is answered.

Such an error says nothing about the request: the other transaction went on, and the same request
a moment later normally succeeds (and then gets its true answer, e.g. 401 when the other one deleted
the account). The unit of work of a request is the request itself (one session, committed before
the answer is sent), so the request is run again: its body is replayed from what the app read. Lock
orders are kept consistent where shop knows them (docs/RELIABILITY.md); this is the net for the
rest. After the last try the answer is 503 `service_unavailable` with `Retry-After`: never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import random

from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.core.errors import ServiceBusy
from shop.core.problems import error_response, is_conflict

logger = logging.getLogger("shop.request")

# Tries after the first. A deadlock victim's retry waits for the winner's locks, then runs alone.
RETRIES = 2


class RetryConflictsMiddleware:
    """Runs an HTTP request again when it failed with a conflict before its answer began. Sits
    just outside the app's exception handlers, which let conflicts pass (`shop.core.problems`)."""

    def __init__(self, app: ASGIApp, retries: int = RETRIES) -> None:
        self.app = app
        self.retries = retries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body: list[Message] = []
        started = False

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.append(message)
            return message

        def replaying() -> Receive:
            pending = list(body)

            async def replay() -> Message:
                # What the first try read, then whatever it had not read yet.
                return pending.pop(0) if pending else await recording()

            return replay

        async def watching(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        for attempt in range(self.retries + 1):
            try:
                await self.app(scope, recording if attempt == 0 else replaying(), watching)
                return
            except DBAPIError as exc:
                if started or not is_conflict(exc):
                    raise
                logger.warning(
                    "transaction ended by a conflict (%s) on %s; try %d of %d",
                    exc.orig.sqlstate if exc.orig is not None else "?",  # type: ignore[attr-defined]
                    scope.get("path"),
                    attempt + 1,
                    self.retries + 1,
                )
            # A little apart, so that two victims of one another do not meet again at once.
            await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311
        response = error_response(ServiceBusy())
        await response(scope, receive, send)
