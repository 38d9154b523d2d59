"""Every query of the webhooks context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from shop.webhooks.models import DELIVERED, FAILED, PENDING, Delivery, Endpoint

LIST_LIMIT = 50


class EndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, url: str, events: list[str], description: str | None, secret: bytes) -> Endpoint:
        endpoint = Endpoint(url=url, events=events, description=description, secret=secret)
        self.session.add(endpoint)
        await self.session.flush()
        await self.session.refresh(endpoint)
        return endpoint

    async def get(self, endpoint_id: uuid.UUID) -> Endpoint | None:
        return await self.session.get(Endpoint, endpoint_id)

    async def list_all(self) -> Sequence[Endpoint]:
        return (await self.session.scalars(select(Endpoint).order_by(Endpoint.created_at))).all()

    async def list_active(self) -> Sequence[Endpoint]:
        return (await self.session.scalars(select(Endpoint).where(Endpoint.is_active))).all()

    async def update(self, endpoint: Endpoint, values: dict[str, Any]) -> Endpoint:
        for name, value in values.items():
            setattr(endpoint, name, value)
        endpoint.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(endpoint)
        return endpoint

    async def delete(self, endpoint_id: uuid.UUID) -> bool:
        """Delete the endpoint and (cascade) its deliveries."""
        deleted = await self.session.execute(
            delete(Endpoint).where(Endpoint.id == endpoint_id).returning(Endpoint.id)
        )
        return deleted.first() is not None


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    id: uuid.UUID
    lease_id: uuid.UUID
    status: str
    next_attempt_at: datetime
    status_code: int | None
    error: str | None


# Due deliveries of each endpoint, at most `n` of each, locked without waiting for another
# dispatcher's locks; leased until `lease` seconds from now (a dispatcher that dies leaves them due
# again when the lease ends). The attempt is counted when it starts.
_CLAIM = text(
    """
    UPDATE webhooks.deliveries AS d
    SET next_attempt_at = now() + make_interval(secs => :lease), lease_id = :lease_id,
        attempts = d.attempts + 1
    FROM (
        SELECT c.id
        FROM unnest(CAST(:endpoint_ids AS uuid[]), CAST(:limits AS int[])) AS q(endpoint_id, n)
        CROSS JOIN LATERAL (
            SELECT id FROM webhooks.deliveries
            WHERE endpoint_id = q.endpoint_id AND status = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at
            LIMIT q.n
            FOR UPDATE SKIP LOCKED
        ) AS c
    ) AS claimed
    WHERE d.id = claimed.id
    RETURNING d.id, d.endpoint_id, d.event_id, d.body, d.attempts
    """
)

# Outcomes recorded in one statement; only under the lease they were sent with (a delivery whose
# lease ran out may be another dispatcher's by now, and an erased one is gone).
_FINISH = text(
    """
    UPDATE webhooks.deliveries AS d
    SET status = o.status, next_attempt_at = o.next_attempt_at, lease_id = NULL,
        last_status_code = o.status_code, last_error = o.error,
        delivered_at = CASE WHEN o.status = 'delivered' THEN now() ELSE d.delivered_at END
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:leases AS uuid[]), CAST(:statuses AS text[]),
        CAST(:nexts AS timestamptz[]), CAST(:codes AS int[]), CAST(:errors AS text[])
    ) AS o(id, lease_id, status, next_attempt_at, status_code, error)
    WHERE d.id = o.id AND d.lease_id = o.lease_id
    """
)

_RECORD = text(
    """
    INSERT INTO webhooks.deliveries (endpoint_id, event_id, type, user_id, body)
    SELECT id, :event_id, :type, :user_id, :body FROM webhooks.endpoints
    WHERE is_active AND events && CAST(:matching AS varchar[])
    """
)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self, event_id: uuid.UUID, event_type: str, user_id: uuid.UUID | None, body: str
    ) -> None:
        """One delivery for each active endpoint that takes `event_type`."""
        await self.session.execute(
            _RECORD,
            {
                "event_id": event_id,
                "type": event_type,
                "user_id": user_id,
                "body": body,
                "matching": [event_type, "*"],
            },
        )

    async def record_for(
        self, endpoint_id: uuid.UUID, event_id: uuid.UUID, event_type: str, body: str
    ) -> None:
        self.session.add(Delivery(endpoint_id=endpoint_id, event_id=event_id, type=event_type, body=body))
        await self.session.flush()

    async def erase_user(self, user_id: uuid.UUID) -> int:
        deleted = await self.session.execute(
            delete(Delivery).where(Delivery.user_id == user_id).returning(Delivery.id)
        )
        return len(deleted.all())

    async def list_for(self, endpoint_id: uuid.UUID, status: str | None) -> Sequence[Delivery]:
        query = select(Delivery).where(Delivery.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(Delivery.status == status)
        query = query.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(LIST_LIMIT)
        return (await self.session.scalars(query)).all()

    async def retry(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> bool:
        """Make a delivery due now (a failed or delivered one is sent once more); False if unknown.
        One that a dispatcher is sending right now keeps its lease (never two sends at once)."""
        found = await self.session.scalar(
            select(Delivery.id).where(Delivery.id == delivery_id, Delivery.endpoint_id == endpoint_id)
        )
        if found is None:
            return False
        await self.session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                or_(Delivery.lease_id.is_(None), Delivery.next_attempt_at <= func.now()),
            )
            .values(status=PENDING, next_attempt_at=func.now())
        )
        return True

    async def claim(
        self, limits: dict[uuid.UUID, int], lease_seconds: float, lease_id: uuid.UUID
    ) -> list[Claimed]:
        if not limits:
            return []
        rows = await self.session.execute(
            _CLAIM,
            {
                "endpoint_ids": list(limits),
                "limits": list(limits.values()),
                "lease": lease_seconds,
                "lease_id": lease_id,
            },
        )
        return [Claimed(*row) for row in rows]

    async def finish(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        await self.session.execute(
            _FINISH,
            {
                "ids": [o.id for o in outcomes],
                "leases": [o.lease_id for o in outcomes],
                "statuses": [o.status for o in outcomes],
                "nexts": [o.next_attempt_at for o in outcomes],
                "codes": [o.status_code for o in outcomes],
                "errors": [o.error for o in outcomes],
            },
        )

    async def release(self, lease_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        """Give back claimed deliveries that were not sent (their attempt does not count)."""
        if ids:
            await self.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.lease_id == lease_id)
                .values(next_attempt_at=func.now(), lease_id=None, attempts=Delivery.attempts - 1)
            )

    async def purge_finished(self, older_than_days: int) -> int:
        """Delete delivered and failed deliveries recorded more than `older_than_days` ago."""
        deleted = await self.session.execute(
            delete(Delivery)
            .where(
                Delivery.status != PENDING,
                Delivery.created_at < func.now() - func.make_interval(0, 0, 0, older_than_days),
            )
            .returning(Delivery.id)
        )
        return len(deleted.all())

    async def backlog(self) -> list[tuple[uuid.UUID, int, datetime]]:
        """Per endpoint: how many deliveries are pending, and when the oldest was recorded."""
        rows = await self.session.execute(
            select(Delivery.endpoint_id, func.count(), func.min(Delivery.created_at))
            .where(Delivery.status == PENDING)
            .group_by(Delivery.endpoint_id)
        )
        return [(row[0], row[1], row[2]) for row in rows]


__all__ = ["DELIVERED", "FAILED", "PENDING", "Claimed", "DeliveryRepository", "EndpointRepository", "Outcome"]
