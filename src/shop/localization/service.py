"""The rules of the localization context: the pure arithmetic and language matching first, then one
service per aggregate (`LanguageService`, `CurrencyService`, `RateService`), built per request from
the caller's session (see `dependencies.py`); services never commit.

Exchange-rate arithmetic is Decimal in one explicit context (`CONTEXT`), never float: derived rates
(inverse, cross) are computed at full precision, then rounded half-up to 8 decimals; conversions use
the rate they report and round half-up to the target currency's minor units.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.events import EventBus
from shop.localization.errors import (
    CurrencyNotFound,
    LanguageNotFound,
    RateExists,
    RateNotFound,
    UnknownCurrency,
)
from shop.localization.events import ExchangeRateCreated
from shop.localization.models import RATE_SCALE, Currency, ExchangeRate, Language
from shop.localization.repository import (
    CurrencyRepository,
    LanguageRepository,
    Pair,
    RateRepository,
    StoredRate,
)

# 50 significant digits hold any product of two DECIMAL(20,8) values exactly, and any quotient far
# beyond the 8 decimals it is rounded to. Every operation below names this context explicitly.
CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP)
RATE_QUANTUM = Decimal(1).scaleb(-RATE_SCALE)
ONE = Decimal(1)

DERIVED = "derived"
IDENTITY = "identity"
DEFAULT_LANGUAGE = "en"
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True, slots=True)
class Rate:
    """1 `from_code` = `rate` `to_code`. `source` is the stored one, `derived` or `identity`."""

    from_code: str
    to_code: str
    rate: Decimal
    effective_date: datetime
    source: str


@dataclass(frozen=True, slots=True)
class RateTable:
    base: str
    as_of: datetime | None
    rates: dict[str, Rate]


@dataclass(frozen=True, slots=True)
class Conversion:
    """`amount` `from_code` is `converted_amount` `to_code` at `rate` (in force from `effective_date`).

    `converted_amount` is already rounded to the target currency's minor units; `rate` is the rate
    the conversion used, as reported (a derived one rounded to 8 decimals).
    """

    from_code: str
    to_code: str
    amount: Decimal
    converted_amount: Decimal
    rate: Decimal
    effective_date: datetime
    source: str


# -- arithmetic (pure) ----------------------------------------------------------------------------


def format_rate(rate: Decimal) -> str:
    """A rate as a plain decimal string without trailing zeros: `1`, `1.085`, `0.00000001`."""
    return f"{rate.normalize(CONTEXT):f}"


def round_rate(value: Decimal) -> Decimal:
    return value.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP, context=CONTEXT)


def round_money(value: Decimal, decimal_places: int) -> Decimal:
    """Half-up to `decimal_places`; the result always carries exactly that many decimals."""
    return value.quantize(ONE.scaleb(-decimal_places), rounding=ROUND_HALF_UP, context=CONTEXT)


def converted(amount: Decimal, rate: Decimal, decimal_places: int) -> Decimal:
    return round_money(CONTEXT.multiply(amount, rate), decimal_places)


@dataclass(frozen=True, slots=True)
class _Leg:
    value: Decimal  # unrounded
    effective_date: datetime


def _leg(rates: Mapping[Pair, StoredRate], from_code: str, to_code: str) -> _Leg | None:
    """from→to, directly or as the inverse of to→from, at full precision."""
    direct = rates.get((from_code, to_code))
    if direct is not None:
        return _Leg(direct.rate, direct.effective_date)
    reverse = rates.get((to_code, from_code))
    if reverse is not None:
        return _Leg(CONTEXT.divide(ONE, reverse.rate), reverse.effective_date)
    return None


def candidate_pairs(from_code: str, to_code: str, pivot: str) -> set[Pair]:
    """Every stored pair that `resolve_rate` may read for from→to."""
    return {
        (from_code, to_code),
        (to_code, from_code),
        (from_code, pivot),
        (pivot, from_code),
        (pivot, to_code),
        (to_code, pivot),
    }


def resolve_rate(rates: Mapping[Pair, StoredRate], from_code: str, to_code: str, pivot: str) -> Rate | None:
    """The rate from→to given the rates in force: direct, else inverse, else a cross through `pivot`
    (each leg direct or inverse). None when there is none, or when a derived rate rounds to zero."""
    direct = rates.get((from_code, to_code))
    if direct is not None:
        return Rate(from_code, to_code, direct.rate, direct.effective_date, direct.source)
    value: Decimal | None = None
    effective_date: datetime | None = None
    inverse = _leg(rates, from_code, to_code)
    if inverse is not None:
        value, effective_date = inverse.value, inverse.effective_date
    elif pivot not in (from_code, to_code):
        first, second = _leg(rates, from_code, pivot), _leg(rates, pivot, to_code)
        if first is not None and second is not None:
            value = CONTEXT.multiply(first.value, second.value)
            effective_date = min(first.effective_date, second.effective_date)
    if value is None or effective_date is None:
        return None
    rounded = round_rate(value)
    if rounded <= 0:
        # Too small for DECIMAL(20,8): not a rate anyone could convert with.
        return None
    return Rate(from_code, to_code, rounded, effective_date, DERIVED)


def _identity(code: str, at: datetime) -> Rate:
    return Rate(code, code, ONE, at, IDENTITY)


# -- languages ------------------------------------------------------------------------------------

_LANGUAGE_RANGE = re.compile(r"^(?:\*|[a-z]{1,8}(?:-[a-z0-9]{1,8})*)$")
_QVALUE = re.compile(r"^q=(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")
_MAX_HEADER = 4096
_MAX_RANGES = 64


def parse_accept_language(header: str | None) -> list[str]:
    """The language ranges of an Accept-Language value, most preferred first (q=0 and malformed
    entries dropped; equal q-values keep their order). Never raises."""
    if not header:
        return []
    ranked: list[tuple[Decimal, int, str]] = []
    for index, entry in enumerate(header[:_MAX_HEADER].split(",")[:_MAX_RANGES]):
        tag, *params = (piece.strip() for piece in entry.split(";"))
        tag = tag.lower().replace("_", "-")
        if not _LANGUAGE_RANGE.fullmatch(tag):
            continue
        quality = ONE
        for param in params:
            compact = param.replace(" ", "").lower()
            if compact.startswith("q="):
                if not _QVALUE.fullmatch(compact):
                    quality = Decimal(-1)
                    break
                quality = Decimal(compact[2:] or "0")
        if quality <= 0:
            continue
        ranked.append((quality, index, tag))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [tag for _, _, tag in ranked]


def match_language(preferences: Sequence[str], active: set[str]) -> str:
    """RFC 4647 lookup: each range, then shorter and shorter prefixes of it (`zh-hant-tw`, `zh-hant`,
    `zh`), against the active codes; `*` stands for the fallback. Else `en`."""
    by_lower = {code.lower(): code for code in active}
    for preference in preferences:
        if preference == "*":
            if DEFAULT_LANGUAGE in by_lower:
                return by_lower[DEFAULT_LANGUAGE]
            continue
        subtags = preference.split("-")
        while subtags:
            candidate = "-".join(subtags)
            if candidate in by_lower:
                return by_lower[candidate]
            subtags.pop()
            if subtags and len(subtags[-1]) == 1:  # never end on a singleton (`x`, `u`)
                subtags.pop()
    return DEFAULT_LANGUAGE


class LanguageService:
    def __init__(self, session: AsyncSession) -> None:
        self.languages = LanguageRepository(session)

    async def list_active(self) -> Sequence[Language]:
        return await self.languages.list_active()

    async def is_active(self, code: str) -> bool:
        return await self.languages.is_active(code)

    async def best_match(self, accept_language: str | None) -> str:
        preferences = parse_accept_language(accept_language)
        if not preferences:
            return DEFAULT_LANGUAGE
        return match_language(preferences, await self.languages.list_active_codes())

    async def set_active(self, code: str, active: bool) -> Language:
        language = await self.languages.update_active(code, active)
        if language is None:
            raise LanguageNotFound()
        return language


# -- currencies -----------------------------------------------------------------------------------


class CurrencyService:
    def __init__(self, session: AsyncSession) -> None:
        self.currencies = CurrencyRepository(session)

    async def list_active(self) -> Sequence[Currency]:
        return await self.currencies.list_active()

    async def is_active(self, code: str) -> bool:
        return await self.currencies.is_active(code)

    async def set_active(self, code: str, active: bool) -> Currency:
        currency = await self.currencies.update_active(code, active)
        if currency is None:
            raise CurrencyNotFound()
        return currency


# -- exchange rates -------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


class RateService:
    """Rates in force, derived rates and conversions; `pivot` is the currency cross rates go through
    (BASE_CURRENCY)."""

    def __init__(self, session: AsyncSession, *, pivot: str, events: EventBus | None = None) -> None:
        """`events`: where a stored rate is announced (None: nowhere)."""
        self.session = session
        self.pivot = pivot
        self.events = events
        self.currencies = CurrencyRepository(session)
        self.rates = RateRepository(session)

    async def _active(self, *codes: str) -> dict[str, Currency]:
        found = await self.currencies.list_by_codes(codes)
        for code in codes:
            currency = found.get(code)
            if currency is None or not currency.is_active:
                raise UnknownCurrency("{code} is not an active currency.", values={"code": code})
        return found

    async def _resolve(self, from_code: str, to_code: str, at: datetime) -> Rate:
        if from_code == to_code:
            return _identity(from_code, at)
        in_force = await self.rates.list_in_force(candidate_pairs(from_code, to_code, self.pivot), at)
        rate = resolve_rate(in_force, from_code, to_code, self.pivot)
        if rate is None:
            raise RateNotFound(
                "No exchange rate from {source} to {target} is in force at that time.",
                values={"source": from_code, "target": to_code},
            )
        return rate

    async def rate_at(self, from_code: str, to_code: str, at: datetime | None = None) -> Rate:
        """The rate from→to in force at `at` (default now). Raises UnknownCurrency, RateNotFound."""
        await self._active(from_code, to_code)
        return await self._resolve(from_code, to_code, at or _now())

    async def rates_for_base(self, base: str, at: datetime | None = None) -> RateTable:
        """For each other active currency, the rate base→it in force at `at` (default now);
        currencies with no rate are left out. `as_of` is the latest effective_date among them."""
        at = at or _now()
        await self._active(base)
        targets = [currency.code for currency in await self.currencies.list_active() if currency.code != base]
        pairs: set[Pair] = set()
        for target in targets:
            pairs |= candidate_pairs(base, target, self.pivot)
        in_force = await self.rates.list_in_force(pairs, at)
        rates: dict[str, Rate] = {}
        for target in targets:
            rate = resolve_rate(in_force, base, target, self.pivot)
            if rate is not None:
                rates[target] = rate
        as_of = max((rate.effective_date for rate in rates.values()), default=None)
        return RateTable(base=base, as_of=as_of, rates=rates)

    async def convert(
        self, amount: Decimal, from_code: str, to_code: str, at: datetime | None = None
    ) -> Conversion:
        """`amount` from→to at the rate in force at `at`. Raises UnknownCurrency, RateNotFound."""
        if not amount.is_finite() or amount < 0:
            raise ValueError("amount must be a finite decimal >= 0")
        currencies = await self._active(from_code, to_code)
        rate = await self._resolve(from_code, to_code, at or _now())
        return Conversion(
            from_code=from_code,
            to_code=to_code,
            amount=amount,
            converted_amount=converted(amount, rate.rate, currencies[to_code].decimal_places),
            rate=rate.rate,
            effective_date=rate.effective_date,
            source=rate.source,
        )

    async def add(
        self, from_code: str, to_code: str, *, rate: Decimal, effective_date: datetime, source: str
    ) -> ExchangeRate:
        """Store a rate. Any currency of the reference data may be priced, active or not (rates can be
        loaded before a currency is switched on). Raises UnknownCurrency, RateExists."""
        known = await self.currencies.list_by_codes((from_code, to_code))
        for code in (from_code, to_code):
            if code not in known:
                raise UnknownCurrency("{code} is not a known currency.", values={"code": code})
        stored = await self.rates.add(from_code, to_code, rate, effective_date, source)
        if stored is None:
            raise RateExists()
        if self.events is not None:
            payload = to_jsonable_python(stored_rate_fields(stored))
            await self.events.publish(self.session, ExchangeRateCreated(payload))
        return stored


def stored_rate_fields(stored: ExchangeRate) -> dict[str, object]:
    """A stored rate as the API shows it (members named as in JSON)."""
    return {
        "id": str(stored.id),
        "from": stored.from_code,
        "to": stored.to_code,
        "rate": format_rate(stored.rate),
        "effective_date": stored.effective_date,
        "source": stored.source,
        "created_at": stored.created_at,
    }
