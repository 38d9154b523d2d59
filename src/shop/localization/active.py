"""The active currencies as the process keeps them: a cache, not a service — the reads that only ask
whether a currency is offered (`/money/format`) need no database round trip."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.conflicts import after_commit
from shop.core.db import Database
from shop.localization.repository import CurrencyRepository

# An admin's change is seen by this process at once (after its commit), by another process within
# this many seconds.
ACTIVE_CURRENCIES_TTL_SECONDS = 5.0


class ActiveCurrencies:
    """The codes of the active currencies, kept by the process for the reads that only ask whether
    a currency is offered (`/money/format`), read again when older than
    ACTIVE_CURRENCIES_TTL_SECONDS or once a change in this process has committed."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._database = database
        self._clock = clock
        self._codes: frozenset[str] | None = None
        self._read_at = 0.0

    async def codes(self) -> frozenset[str]:
        now = self._clock()
        if self._codes is None or now - self._read_at >= ACTIVE_CURRENCIES_TTL_SECONDS:
            async with self._database.read_sessions() as session:
                codes = frozenset(await CurrencyRepository(session).list_active_codes())
            self._codes, self._read_at = codes, now
        return self._codes

    def still_offers(self, code: str) -> bool:
        """Whether `code` is active by the codes kept now, read no longer than the TTL ago: never
        reads them (False when they are due)."""
        codes = self._codes
        return (
            codes is not None
            and self._clock() - self._read_at < ACTIVE_CURRENCIES_TTL_SECONDS
            and code in codes
        )

    def changed(self, session: AsyncSession) -> None:
        """A currency is switched on or off in `session`: read the codes again once it commits."""
        after_commit(session, self._forget)

    def _forget(self) -> None:
        self._codes = None
