"""auth's background work, started with the app's lifespan like the mail sender: it fulfils the asks
for verification and reset links (see `EmailLinkRequest`), and purges what ended long ago.

Safe in many processes at once: asks are taken with `SKIP LOCKED`, and a purge is one transaction of
idempotent DELETEs that a second instance skips while the first holds the purge's lock."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import text

from shop.auth.service import AccountService, AuthTools
from shop.core.background import BackgroundLoop
from shop.core.db import Database

logger = logging.getLogger("shop.auth")

PURGE_INTERVAL_SECONDS = 3600.0

_TRY_PURGE_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended('auth.purge', 0))")
# "Ended" per table: a session when it expired or was revoked; a refresh token when it expired (a
# rotated one stays until then, so its reuse is still recognised); a login challenge when it expired
# or was spent; an email token when it expired or was used; a passkey challenge when it expired.
_PURGES = {
    "sessions": "DELETE FROM auth.sessions WHERE expires_at < :cutoff OR revoked_at < :cutoff",
    "refresh_tokens": "DELETE FROM auth.refresh_tokens WHERE expires_at < :cutoff",
    "mfa_challenges": "DELETE FROM auth.mfa_challenges WHERE expires_at < :cutoff OR spent_at < :cutoff",
    "email_tokens": "DELETE FROM auth.email_tokens WHERE expires_at < :cutoff OR used_at < :cutoff",
    # Worth nothing after their 5 minutes, and anyone may ask for one: gone at the next purge.
    "passkey_challenges": "DELETE FROM auth.passkey_challenges WHERE expires_at < now()",
}


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
                batch = await AccountService(session, self.database, self.tools).fulfil_link_requests()
            taken += batch
            if batch == 0:
                return taken

    async def purge(self) -> Purged:
        """Delete what ended more than SESSION_RETENTION_DAYS ago (it holds IP addresses and user
        agents, and is of no use any more)."""
        days = self.tools.settings.session_retention_days
        async with self.database.unit_of_work() as session:
            if not await session.scalar(_TRY_PURGE_LOCK):
                return Purged({}, skipped=True)
            cutoff = await session.scalar(text("SELECT now() - make_interval(days => :d)"), {"d": days})
            counts = {}
            for table, statement in _PURGES.items():
                result = await session.execute(text(statement), {"cutoff": cutoff})
                counts[table] = int(getattr(result, "rowcount", 0) or 0)
        if any(counts.values()):
            logger.info("ended sessions and tokens purged", extra={"purged": counts})
        return Purged(counts)
