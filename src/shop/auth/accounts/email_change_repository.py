"""Every query of the email change: its asks (link tokens stored as hashes) and the move itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, union, update
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

    async def list_for(self, user_id: uuid.UUID) -> list[EmailChange]:
        """Every ask of the user, oldest first (a personal-data export shows them)."""
        statement = (
            select(EmailChange)
            .where(EmailChange.user_id == user_id)
            .order_by(EmailChange.created_at, EmailChange.expires_at)
        )
        return list((await self.session.scalars(statement)).all())

    async def addresses_of(self, user_id: uuid.UUID) -> set[str]:
        """Every address mail of the user's went to: its own, and each one its asks name (old and
        new) that no other account holds now — one that another account holds is that account's,
        and so is its mail."""
        named = union(
            select(EmailChange.old_email.label("address")).where(EmailChange.user_id == user_id),
            select(EmailChange.new_email).where(EmailChange.user_id == user_id),
        ).subquery()
        others = select(User.id).where(func.lower(User.email) == named.c.address, User.id != user_id)
        statement = union(
            select(named.c.address).where(~others.exists()),
            select(func.lower(User.email)).where(User.id == user_id),
        )
        return set((await self.session.scalars(statement)).all())

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
