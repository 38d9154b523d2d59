"""The webhooks context's tables (schema `webhooks`): the endpoints other services registered, and one
delivery per event and endpoint — the outbox the dispatcher drains."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from shop.core.db import Base

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATUSES = (PENDING, DELIVERED, FAILED)


class Endpoint(Base):
    __tablename__ = "endpoints"
    __table_args__ = {"schema": "webhooks"}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    url: Mapped[str] = mapped_column(String(2048))
    # Event types, or ["*"] for all.
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    description: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # The `whsec_` secret, sealed (SecretBox, purpose "webhook-secret"); after a rotation the one
    # before keeps signing until `previous_secret_expires_at`.
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'delivered', 'failed')", name="status"),
        # One message per event and endpoint: the event's id is the `webhook-id` of every try.
        UniqueConstraint("endpoint_id", "event_id"),
        # The dispatcher's claim: due deliveries of one endpoint.
        Index(
            "ix_deliveries_due",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # The admin listing, newest first.
        Index("ix_deliveries_endpoint_created", "endpoint_id", "created_at"),
        # Erasure: every delivery naming a deleted user.
        Index("ix_deliveries_user_id", "user_id"),
        {"schema": "webhooks"},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(64))
    # The user the message names, if any (erased with the account, but for `user.deleted`).
    user_id: Mapped[uuid.UUID | None]
    # The body exactly as sent on every try: `{type, timestamp, data}`.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # Due from then on; while a dispatcher holds the delivery, the end of its lease.
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The claim of the dispatcher sending it now: only that claim may record the outcome.
    lease_id: Mapped[uuid.UUID | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
