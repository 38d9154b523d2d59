"""The rates' background work, started with the app's lifespan: it keeps `/metrics`' age of the
newest rate current and, with RATES_AUTO_IMPORT=true, imports the ECB's daily rates whenever the
newest ECB rate is older than the ECB's latest publication — at start, and each working day after
16:00 Europe/Frankfurt.

Safe with many instances: a pass takes a PostgreSQL advisory lock (`pg_try_advisory_xact_lock`) for
its transaction, so one instance imports and the others, finding the lock taken, look again later
and find the rates fresh. A failure (the ECB unreachable, an HTTP error, a bad file) is logged and
tried again after RETRY_SECONDS; it never stops shop. Each success is recorded (`rate_imports`), so a
TARGET holiday's file (the day before's) is fetched once, not all day.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import InvalidOperation

from shop.core.background import BackgroundLoop
from shop.core.config import Settings
from shop.core.db import Database
from shop.localization.commands import ECB, PUBLISHED_AT, BadFile, parse_ecb, store_rates
from shop.localization.ecb import (
    BACKOFF_SECONDS,
    FRANKFURT,
    PUBLICATION,
    FetchFailed,
    fetch_ecb,
    latest_publication,
)
from shop.localization.metrics import NEWEST_RATE
from shop.localization.repository import RateImportRepository

logger = logging.getLogger("shop.localization")

CHECK_SECONDS = 600.0
RETRY_SECONDS = 300.0
BUSY_SECONDS = 30.0


class Outcome(enum.Enum):
    IMPORTED = "imported"
    FRESH = "fresh"  # nothing to do: the newest publication is stored (or was fetched already)
    BUSY = "busy"  # another instance holds the import's lock
    FAILED = "failed"


def _now() -> datetime:
    return datetime.now(UTC)


class RatesUpkeep(BackgroundLoop):
    name = "rates-upkeep"

    def __init__(
        self, settings: Settings, database: Database, *, clock: Callable[[], datetime] = _now
    ) -> None:
        super().__init__()
        self.settings = settings
        self.database = database
        self.clock = clock
        self.fetch_backoff_seconds = BACKOFF_SECONDS

    async def _run(self) -> None:
        while not self.stopping:
            wait = CHECK_SECONDS
            try:
                await self.refresh_newest_rate()
                if self.settings.rates_auto_import:
                    outcome = await self.import_if_due()
                    if outcome is Outcome.FAILED:
                        wait = RETRY_SECONDS
                    elif outcome is Outcome.BUSY:
                        wait = BUSY_SECONDS
                    elif outcome is Outcome.IMPORTED:
                        await self.refresh_newest_rate()
            except Exception:  # the upkeep must outlive database outages
                logger.warning("rates upkeep pass failed; retrying", exc_info=True)
                wait = RETRY_SECONDS
            await self.pause(wait)

    async def refresh_newest_rate(self) -> None:
        async with self.database.unit_of_work() as session:
            newest = await RateImportRepository(session).newest_rate(self.clock())
        NEWEST_RATE.effective_at = newest.timestamp() if newest is not None else None

    async def import_if_due(self) -> Outcome:
        """Import the ECB's daily file when the newest ECB rate is older than its latest publication
        and no import has succeeded since that publication. One transaction: all or nothing."""
        now = self.clock()
        publication = latest_publication(now)
        due = datetime.combine(publication, PUBLISHED_AT)
        published_at = datetime.combine(publication, PUBLICATION, tzinfo=FRANKFURT)
        async with self.database.unit_of_work() as session:
            imports = RateImportRepository(session)
            if not await imports.try_lock():
                return Outcome.BUSY
            newest = await imports.newest_rate(now, ECB)
            if newest is not None and newest >= due:
                return Outcome.FRESH
            last = await imports.last_success(ECB)
            if last is not None and last >= published_at:
                return Outcome.FRESH
            url = self.settings.ecb_rates_url
            try:
                parsed = parse_ecb(await fetch_ecb(url, backoff=self.fetch_backoff_seconds))
            except (FetchFailed, BadFile, InvalidOperation, RecursionError) as exc:
                logger.warning("ECB rates import failed; retrying later: %s", exc)
                return Outcome.FAILED
            report = await store_rates(session, parsed, url)
            await imports.add(ECB, report.stored, await imports.newest_rate(now, ECB), now)
        logger.info("ECB rates imported: %s", report)
        return Outcome.IMPORTED
