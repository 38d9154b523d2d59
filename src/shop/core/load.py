"""How busy this process is with requests, for background work that should yield to them (the
webhook dispatcher sends little while requests are being served, at full pace when they are not)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

# A process counts as busy this long after its last request ended: a client's next request is on
# its way.
BUSY_AFTER_SECONDS = 0.05


class RequestLoad:
    """The requests this process serves now; one per app (built by the bootstrap)."""

    def __init__(self) -> None:
        self.active = 0
        self.last_ended = float("-inf")

    def busy(self) -> bool:
        return self.active > 0 or time.monotonic() - self.last_ended < BUSY_AFTER_SECONDS


class RequestLoadMiddleware:
    def __init__(self, app: ASGIApp, load: RequestLoad) -> None:
        self.app = app
        self.load = load

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.load.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.load.active -= 1
            self.load.last_ended = time.monotonic()
