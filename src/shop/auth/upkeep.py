"""auth's background work, started with the app's lifespan like the mail sender: it fulfils the asks
for verification and reset links (see `EmailLinkRequest`), and purges what ended long ago.

Safe in many processes at once: asks are taken with `SKIP LOCKED`, and a purge is one transaction of
idempotent DELETEs that a second instance skips while the first holds the purge's lock."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shop.auth.dependencies import account_service
from shop.auth.repository import PurgeRepository
from shop.auth.tools import AuthTools
from shop.core.background import BackgroundLoop
from shop.core.db import Database

logger = logging.getLogger("shop.auth")

PURGE_INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Purged:
    """What one purge removed, per table; `skipped` when another instance was purging."""

    counts: dict[str, int]
    skipped: bool = False


class AuthUpkeep(BackgroundLoop):
    name = "auth-upkeep"

    def __init__(self, database: Database, tools: AuthTools) -> None:
        super().__init__()
        self.database = database
        self.tools = tools

    async def _run(self) -> None:
        next_purge = time.monotonic()
        while not self.stopping:
            taken = 0
            try:
                taken = await self.fulfil_link_requests()
                if time.monotonic() >= next_purge:
                    await self.purge()
                    next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
            except Exception:  # the upkeep must outlive database outages
                logger.warning("auth upkeep pass failed; retrying", exc_info=True)
            if taken == 0:
                await self.pause(self.tools.settings.mail_poll_seconds)

    async def fulfil_link_requests(self) -> int:
        """Fulfil the waiting asks for links, a batch at a time; how many were taken."""
        taken = 0
        while True:
            async with self.database.unit_of_work() as session:
                batch = await account_service(session, self.database, self.tools).fulfil_link_requests()
            taken += batch
            if batch == 0:
                return taken

    async def purge(self) -> Purged:
        """Delete what ended more than SESSION_RETENTION_DAYS ago (it holds IP addresses and user
        agents, and is of no use any more)."""
        days = self.tools.settings.session_retention_days
        async with self.database.unit_of_work() as session:
            purges = PurgeRepository(session)
            if not await purges.try_lock():
                return Purged({}, skipped=True)
            counts = await purges.purge_ended_before(days)
        if any(counts.values()):
            logger.info("ended sessions and tokens purged", extra={"purged": counts})
        return Purged(counts)
