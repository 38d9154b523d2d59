"""How busy this process is with requests, for background work that should yield to them (the
webhook dispatcher sends little while requests are being served, at full pace when they are not)."""

from __future__ import annotations

import time

# A process counts as busy this long after its last request ended: a client's next request is on
# its way.
BUSY_AFTER_SECONDS = 0.05


class RequestLoad:
    """The requests this process serves now; one per app (built by the bootstrap), counted by
    `RequestContextMiddleware`."""

    def __init__(self) -> None:
        self.active = 0
        self.last_ended = float("-inf")

    def busy(self) -> bool:
        return self.active > 0 or time.monotonic() - self.last_ended < BUSY_AFTER_SECONDS
