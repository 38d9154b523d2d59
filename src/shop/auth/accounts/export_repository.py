"""The reads of a personal-data export that no other part of auth makes: every session row the
account has (ended ones too, until they are purged) and its whole audit trail."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import AuditEvent, Session


class ExportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sessions_of(self, user_id: uuid.UUID) -> list[Session]:
        statement = (
            select(Session).where(Session.user_id == user_id).order_by(Session.created_at.desc(), Session.id)
        )
        return list((await self.session.scalars(statement)).all())

    async def audit_trail_of(self, user_id: uuid.UUID) -> list[AuditEvent]:
        statement = (
            select(AuditEvent)
            .where(AuditEvent.user_id == user_id)
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
        return list((await self.session.scalars(statement)).all())
