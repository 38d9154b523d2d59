"""Every query of the auth context."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# One indexed round trip on the hot path of every authenticated request: plain SQL through the
# request's own session, with no ORM identity-map work.
_LIVE_SESSION_ROLE = text(
    "SELECT u.role FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id "
    "WHERE s.id = :sid AND s.user_id = :uid AND s.revoked_at IS NULL "
    "AND s.expires_at > now() AND u.is_active"
)


class AuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def live_session_role(self, user_id: uuid.UUID, session_id: uuid.UUID) -> str | None:
        role = await self.session.scalar(_LIVE_SESSION_ROLE, {"sid": session_id, "uid": user_id})
        return str(role) if role is not None else None
