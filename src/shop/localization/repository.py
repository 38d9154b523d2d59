"""Every query of the localization context: one repository per aggregate (languages, currencies,
exchange rates), each built from the session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ARRAY, DateTime, String, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.localization.models import Currency, ExchangeRate, Language, RateImport

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class StoredRate:
    """A row of `exchange_rates`: 1 `from_code` = `rate` `to_code` from `effective_date` on."""

    from_code: str
    to_code: str
    rate: Decimal
    effective_date: datetime
    source: str


# One round trip for any number of pairs; each pair is one probe of the unique index
# (from_code, to_code, effective_date DESC): the first entry at or before :at is the rate in force.
_RATES_IN_FORCE = text(
    """
    SELECT p.from_code, p.to_code, r.rate, r.effective_date, r.source
    FROM unnest(CAST(:froms AS varchar[]), CAST(:tos AS varchar[])) AS p(from_code, to_code)
    CROSS JOIN LATERAL (
        SELECT e.rate, e.effective_date, e.source
        FROM localization.exchange_rates AS e
        WHERE e.from_code = p.from_code AND e.to_code = p.to_code AND e.effective_date <= :at
        ORDER BY e.effective_date DESC
        LIMIT 1
    ) AS r
    """
).bindparams(
    bindparam("froms", type_=ARRAY(String)),
    bindparam("tos", type_=ARRAY(String)),
    bindparam("at", type_=DateTime(timezone=True)),
)

# Bulk load for imports: arrays instead of thousands of bound parameters; rows already present
# (same pair, same instant) are left alone, and RETURNING counts the ones actually stored.
_INSERT_RATES_IGNORING_EXISTING = text(
    """
    INSERT INTO localization.exchange_rates (from_code, to_code, rate, effective_date, source)
    SELECT * FROM unnest(
        CAST(:froms AS varchar[]), CAST(:tos AS varchar[]), CAST(:rates AS numeric[]),
        CAST(:dates AS timestamptz[]), CAST(:sources AS varchar[])
    )
    ON CONFLICT (from_code, to_code, effective_date) DO NOTHING
    RETURNING 1
    """
)


class LanguageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_active(self) -> Sequence[Language]:
        result = await self.session.scalars(
            select(Language).where(Language.is_active).order_by(Language.code)
        )
        return result.all()

    async def list_active_codes(self) -> set[str]:
        result = await self.session.scalars(select(Language.code).where(Language.is_active))
        return set(result.all())

    async def is_active(self, code: str) -> bool:
        found = await self.session.scalar(
            select(Language.code).where(Language.code == code, Language.is_active)
        )
        return found is not None

    async def update_active(self, code: str, active: bool) -> Language | None:
        """Switch a language on or off (its code compared case-insensitively); None when unknown."""
        result = await self.session.scalars(
            update(Language)
            .where(func.lower(Language.code) == code.lower())
            .values(is_active=active)
            .returning(Language)
            .execution_options(populate_existing=True)
        )
        return result.one_or_none()


class CurrencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_active(self) -> Sequence[Currency]:
        result = await self.session.scalars(
            select(Currency).where(Currency.is_active).order_by(Currency.code)
        )
        return result.all()

    async def list_active_codes(self) -> set[str]:
        result = await self.session.scalars(select(Currency.code).where(Currency.is_active))
        return set(result.all())

    async def list_by_codes(self, codes: Iterable[str]) -> dict[str, Currency]:
        result = await self.session.scalars(select(Currency).where(Currency.code.in_(set(codes))))
        return {currency.code: currency for currency in result}

    async def list_codes(self) -> set[str]:
        result = await self.session.scalars(select(Currency.code))
        return set(result.all())

    async def is_active(self, code: str) -> bool:
        found = await self.session.scalar(
            select(Currency.code).where(Currency.code == code, Currency.is_active)
        )
        return found is not None

    async def update_active(self, code: str, active: bool) -> Currency | None:
        """Switch a currency on or off; None when unknown."""
        result = await self.session.scalars(
            update(Currency)
            .where(Currency.code == code)
            .values(is_active=active)
            .returning(Currency)
            .execution_options(populate_existing=True)
        )
        return result.one_or_none()


class RateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_in_force(self, pairs: Iterable[Pair], at: datetime) -> dict[Pair, StoredRate]:
        """For each pair that has one, the rate with the latest effective_date <= `at`."""
        wanted = sorted(set(pairs))
        if not wanted:
            return {}
        result = await self.session.execute(
            _RATES_IN_FORCE,
            {"froms": [f for f, _ in wanted], "tos": [t for _, t in wanted], "at": at},
        )
        return {
            (row.from_code, row.to_code): StoredRate(
                row.from_code, row.to_code, row.rate, row.effective_date, row.source
            )
            for row in result
        }

    async def add(
        self, from_code: str, to_code: str, rate: Decimal, effective_date: datetime, source: str
    ) -> ExchangeRate | None:
        """Store a rate; None when the pair already has one at that instant (race-free)."""
        result = await self.session.scalars(
            insert(ExchangeRate)
            .values(
                from_code=from_code,
                to_code=to_code,
                rate=rate,
                effective_date=effective_date,
                source=source,
            )
            .on_conflict_do_nothing(index_elements=["from_code", "to_code", "effective_date"])
            .returning(ExchangeRate)
        )
        return result.one_or_none()

    async def add_many_ignoring_existing(self, rates: Sequence[StoredRate]) -> int:
        """Store many rates at once; returns how many were new."""
        if not rates:
            return 0
        result = await self.session.execute(
            _INSERT_RATES_IGNORING_EXISTING,
            {
                "froms": [r.from_code for r in rates],
                "tos": [r.to_code for r in rates],
                "rates": [r.rate for r in rates],
                "dates": [r.effective_date for r in rates],
                "sources": [r.source for r in rates],
            },
        )
        return len(result.all())


_NEWEST_RATE = text(
    "SELECT max(effective_date) FROM localization.exchange_rates WHERE effective_date <= :now"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))
_NEWEST_OF_SOURCE = text(
    "SELECT max(effective_date) FROM localization.exchange_rates WHERE source = :source AND effective_date <= :now"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))
# One instance among several runs the daily import: the others skip while it holds this lock.
_TRY_IMPORT_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended('localization.rate_import', 0))")


class RateImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def try_lock(self) -> bool:
        """Take the import's lock until the transaction ends; False when another instance holds it."""
        return bool(await self.session.scalar(_TRY_IMPORT_LOCK))

    async def newest_rate(self, now: datetime, source: str | None = None) -> datetime | None:
        """The latest effective_date in force at `now` (of `source`, else of any source)."""
        if source is None:
            found = await self.session.scalar(_NEWEST_RATE, {"now": now})
        else:
            found = await self.session.scalar(_NEWEST_OF_SOURCE, {"now": now, "source": source})
        return found if isinstance(found, datetime) else None

    async def last_success(self, source: str) -> datetime | None:
        return await self.session.scalar(
            select(RateImport.finished_at)
            .where(RateImport.source == source)
            .order_by(RateImport.finished_at.desc())
            .limit(1)
        )

    async def add(self, source: str, stored: int, newest: datetime | None, finished_at: datetime) -> None:
        self.session.add(
            RateImport(source=source, stored=stored, newest_effective_date=newest, finished_at=finished_at)
        )
        await self.session.flush()
