"""The end of the shutdown grace (SHUTDOWN_GRACE_SECONDS): uvicorn cancels the requests still under
way. Each is answered 503 `service_unavailable` with `Retry-After` — the client may send it again, to
another instance — rather than uvicorn's bare 500 and a traceback in the log. Its transaction is
rolled back (the request's session ends on the cancellation), so nothing of it is half-written.
Best effort: uvicorn moves on to the app's shutdown without waiting for these answers, and a
cancellation that lands inside the commit itself cannot tell whether it was written."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.core.errors import ShuttingDown
from shop.core.problems import error_response

logger = logging.getLogger("shop.request")


class CutOffMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            # Only the server's one cancellation of this task (`task.cancel()` at the end of the
            # grace) is a cut-off; a CancelledError raised by code, or a second cancellation, is not.
            if started or task is None or task.cancelling() != 1:
                raise
            # The server cancelled this task to stop; it awaits nothing from it but its end. The
            # answer is the request's last act, so the cancellation is taken as handled.
            task.uncancel()
            logger.warning("request cut off by the shutdown on %s", scope.get("path"))
            response = error_response(ShuttingDown())
            await response(scope, receive, send)
