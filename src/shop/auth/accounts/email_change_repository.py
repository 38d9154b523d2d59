"""Every query of the email change: its asks (link tokens stored as hashes) and the move itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import EmailChange, User


@dataclass(frozen=True, slots=True)
class ClaimedChange:
    user_id: uuid.UUID
    old_email: str
    new_email: str


class EmailChangeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, user_id: uuid.UUID, token_hash: bytes, old_email: str, new_email: str, ttl_seconds: int
    ) -> None:
        await self.session.execute(
            insert(EmailChange).values(
                token_hash=token_hash,
                user_id=user_id,
                old_email=old_email.lower(),
                new_email=new_email.lower(),
                expires_at=func.now() + timedelta(seconds=ttl_seconds),
            )
        )

    async def spend_all(self, user_id: uuid.UUID) -> int:
        """Spend every live ask of the user (a newer ask, a confirmation, a new password)."""
        statement = (
            update(EmailChange)
            .where(
                EmailChange.user_id == user_id,
                EmailChange.used_at.is_(None),
                EmailChange.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(EmailChange.token_hash)
            .execution_options(synchronize_session=False)
        )
        return len((await self.session.scalars(statement)).all())

    async def claim(self, token_hash: bytes) -> ClaimedChange | None:
        """Spend a live ask atomically: of two concurrent claims of one token exactly one gets it
        (the second waits for the first's row lock, then finds it used)."""
        statement = (
            update(EmailChange)
            .where(
                EmailChange.token_hash == token_hash,
                EmailChange.used_at.is_(None),
                EmailChange.expires_at > func.now(),
            )
            .values(used_at=func.now(), confirmed_at=func.now())
            .returning(EmailChange.user_id, EmailChange.old_email, EmailChange.new_email)
            .execution_options(synchronize_session=False)
        )
        row = (await self.session.execute(statement)).first()
        return ClaimedChange(row[0], row[1], row[2]) if row is not None else None

    async def get_state(self, token_hash: bytes) -> str:
        """`valid`, `used`, `expired` or `unknown`: a look at a token that does not spend it."""
        row = (
            await self.session.execute(
                select(EmailChange.used_at, EmailChange.expires_at > func.now()).where(
                    EmailChange.token_hash == token_hash
                )
            )
        ).first()
        if row is None:
            return "unknown"
        used_at, live = row
        if used_at is not None:
            return "used"
        return "valid" if live else "expired"

    async def pending(self, user_id: uuid.UUID) -> tuple[str, datetime] | None:
        """The address of the user's live ask and when its link expires, or None."""
        row = (
            await self.session.execute(
                select(EmailChange.new_email, EmailChange.expires_at)
                .where(
                    EmailChange.user_id == user_id,
                    EmailChange.used_at.is_(None),
                    EmailChange.expires_at > func.now(),
                )
                .order_by(EmailChange.created_at.desc())
                .limit(1)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def addresses_of(self, user_id: uuid.UUID) -> set[str]:
        """Every address the user's asks name (old and new): mail went to each of them."""
        rows = (
            await self.session.execute(
                select(EmailChange.old_email, EmailChange.new_email).where(EmailChange.user_id == user_id)
            )
        ).all()
        return {address for row in rows for address in row}

    async def move(self, user_id: uuid.UUID, new_email: str) -> bool:
        """Make `new_email` the account's (verified) address; False when another account holds it.

        The unique index on lower(email) decides at the moment of the change: of two accounts
        moving to one address at once, the second waits for the first and then fails here. In a
        savepoint, so the request's transaction survives the refusal."""
        statement = (
            update(User)
            .where(User.id == user_id)
            .values(email=new_email.lower(), email_verified=True, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        try:
            async with self.session.begin_nested():
                await self.session.execute(statement)
        except IntegrityError:
            return False
        return True

    async def is_taken(self, email: str) -> bool:
        statement = select(User.id).where(func.lower(User.email) == email.lower())
        return (await self.session.scalar(statement)) is not None
