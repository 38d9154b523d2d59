"""ORM classes of the users context (schema `users`).

`user_id` is the auth context's user id, kept as a plain UUID: no foreign key crosses schemas. The
account-deleted event erases these rows instead.

Timestamps are the database's: both columns default to `statement_timestamp()` and a trigger (created
by the migration, `users.touch_updated_at`) sets `updated_at` on every UPDATE that changes a row.
`statement_timestamp()` rather than `now()`: two writes in one transaction still get distinct times,
so "newest first" stays a real order.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import Base
from shop.localization.public import DEFAULT_CURRENCY, DEFAULT_LANGUAGE

SCHEMA = "users"

# The uses an address type serves, and the types that serve each use.
SHIPPING_TYPES = ("shipping", "both")
BILLING_TYPES = ("billing", "both")


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    # E.164: a plus sign and at most 15 digits.
    phone: Mapped[str | None] = mapped_column(String(16))
    preferred_language: Mapped[str] = mapped_column(String(35), server_default=DEFAULT_LANGUAGE)
    preferred_currency: Mapped[str] = mapped_column(String(3), server_default=DEFAULT_CURRENCY)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.statement_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.statement_timestamp()
    )


class Address(Base):
    __tablename__ = "addresses"
    __table_args__ = (
        CheckConstraint("type in ('billing', 'shipping', 'both')", name="type"),
        CheckConstraint("country_code ~ '^[A-Z]{2}$'", name="country_code"),
        # At most one primary address per user and per use; a `both` address counts for each use.
        Index(
            "uq_addresses_primary_shipping",
            "user_id",
            unique=True,
            postgresql_where=text("is_primary AND type IN ('shipping', 'both')"),
        ),
        Index(
            "uq_addresses_primary_billing",
            "user_id",
            unique=True,
            postgresql_where=text("is_primary AND type IN ('billing', 'both')"),
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    type: Mapped[str] = mapped_column(String(8))
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(255))
    address_line_1: Mapped[str] = mapped_column(String(255))
    address_line_2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country_code: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.statement_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.statement_timestamp()
    )
