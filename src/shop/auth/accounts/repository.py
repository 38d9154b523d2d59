"""Mailed links: their tokens, the asks for them waiting for the upkeep, and the asks to change the
account's email address."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    delete,
    func,
    select,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import (
    EmailChange,
    EmailLinkRequest,
    EmailToken,
    User,
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
