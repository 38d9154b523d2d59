"""Mailed links: their tokens, and the asks for them waiting for the upkeep."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import (
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import (
    EmailLinkRequest,
    EmailToken,
)


class EmailTokenRepository:
    """Single-use tokens of the verification and reset links (stored as hashes)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: uuid.UUID, purpose: str, token_hash: bytes, ttl_seconds: int) -> None:
        await self.session.execute(
            insert(EmailToken).values(
                token_hash=token_hash,
                user_id=user_id,
                purpose=purpose,
                expires_at=func.now() + timedelta(seconds=ttl_seconds),
            )
        )

    async def spend_all(self, user_id: uuid.UUID, purpose: str) -> int:
        """Spend every live token of the user for `purpose` (a password was set: old links die)."""
        statement = (
            update(EmailToken)
            .where(
                EmailToken.user_id == user_id,
                EmailToken.purpose == purpose,
                EmailToken.used_at.is_(None),
                EmailToken.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(EmailToken.token_hash)
            .execution_options(synchronize_session=False)
        )
        return len((await self.session.scalars(statement)).all())

    async def use(self, token_hash: bytes, purpose: str) -> uuid.UUID | None:
        """Spend a live token atomically; the owner's id, or None if unknown, used or expired."""
        statement = (
            update(EmailToken)
            .where(
                EmailToken.token_hash == token_hash,
                EmailToken.purpose == purpose,
                EmailToken.used_at.is_(None),
                EmailToken.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(EmailToken.user_id)
            .execution_options(synchronize_session=False)
        )
        return await self.session.scalar(statement)

    async def get_state(self, token_hash: bytes, purpose: str) -> str:
        """`valid`, `used`, `expired` or `unknown`: a look at a token that does not spend it."""
        row = (
            await self.session.execute(
                select(EmailToken.used_at, EmailToken.expires_at > func.now()).where(
                    EmailToken.token_hash == token_hash, EmailToken.purpose == purpose
                )
            )
        ).first()
        if row is None:
            return "unknown"
        used_at, live = row
        if used_at is not None:
            return "used"
        return "valid" if live else "expired"


class EmailLinkRequestRepository:
    """Asks for verification and reset links, waiting to be fulfilled (see `EmailLinkRequest`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, email: str, purpose: str, ip: str | None, user_agent: str | None) -> None:
        await self.session.execute(
            insert(EmailLinkRequest).values(
                email=email.lower(), purpose=purpose, ip=ip, user_agent=user_agent
            )
        )

    async def take(self, limit: int) -> list[EmailLinkRequest]:
        """The oldest waiting asks, deleted in this transaction: another instance skips them, and if
        the transaction fails they wait again."""
        oldest = (
            select(EmailLinkRequest.id)
            .order_by(EmailLinkRequest.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        statement = (
            delete(EmailLinkRequest)
            .where(EmailLinkRequest.id.in_(oldest))
            .returning(EmailLinkRequest)
            .execution_options(synchronize_session=False)
        )
        rows = list((await self.session.scalars(statement)).all())
        return sorted(rows, key=lambda row: row.id)

    async def delete_for(self, email: str, purpose: str | None = None) -> None:
        conditions = [EmailLinkRequest.email == email.lower()]
        if purpose is not None:
            conditions.append(EmailLinkRequest.purpose == purpose)
        await self.session.execute(
            delete(EmailLinkRequest).where(*conditions).execution_options(synchronize_session=False)
        )
