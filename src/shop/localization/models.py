"""ORM classes of the localization context (schema `localization`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import Base

SCHEMA = "localization"

# DECIMAL(20,8): at most 12 integer digits and 8 decimals (API.md).
RATE_PRECISION, RATE_SCALE = 20, 8


class Language(Base):
    """A language the shop can speak: a lowercase BCP 47 tag (`en`, `zh`)."""

    __tablename__ = "languages"
    __table_args__ = (
        CheckConstraint("code ~ '^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$'", name="code_format"),
        {"schema": SCHEMA},
    )

    code: Mapped[str] = mapped_column(String(35), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    native_name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Currency(Base):
    """An ISO 4217 currency with its minor units (`decimal_places`)."""

    __tablename__ = "currencies"
    __table_args__ = (
        CheckConstraint("code ~ '^[A-Z]{3}$'", name="code_format"),
        CheckConstraint("decimal_places BETWEEN 0 AND 8", name="decimal_places_range"),
        {"schema": SCHEMA},
    )

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    symbol: Mapped[str] = mapped_column(String(16))
    decimal_places: Mapped[int] = mapped_column(SmallInteger)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class ExchangeRate(Base):
    """1 `from_code` = `rate` `to_code`, in force from `effective_date` until a later rate of the pair."""

    __tablename__ = "exchange_rates"
    __table_args__ = (
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("from_code <> to_code", name="distinct_currencies"),
        # One unique index does both jobs: a pair has one rate per instant, and "the rate of the pair
        # in force at T" is a single probe (from, to, effective_date <= T ORDER BY effective_date DESC
        # LIMIT 1) that reads the index in its own order.
        Index(
            "uq_exchange_rates_from_code_to_code_effective_date",
            "from_code",
            "to_code",
            text("effective_date DESC"),
            unique=True,
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    from_code: Mapped[str] = mapped_column(String(3), ForeignKey(f"{SCHEMA}.currencies.code"))
    to_code: Mapped[str] = mapped_column(String(3), ForeignKey(f"{SCHEMA}.currencies.code"))
    rate: Mapped[Decimal] = mapped_column(Numeric(RATE_PRECISION, RATE_SCALE))
    effective_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RateImport(Base):
    """A successful import of fetched rates (the daily ECB import): when it ended and what it stored.
    The daily import reads the latest to know whether today's publication was already fetched."""

    __tablename__ = "rate_imports"
    __table_args__ = (
        Index("ix_rate_imports_source_finished_at", "source", text("finished_at DESC")),
        {"schema": SCHEMA},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    source: Mapped[str] = mapped_column(String(32))
    stored: Mapped[int] = mapped_column(Integer)
    newest_effective_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
