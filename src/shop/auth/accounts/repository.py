"""Mailed links: their tokens, the asks for them waiting for the upkeep, and the asks to change the
account's email address."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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
from sqlalchemy.sql import ColumnElement, Update

from shop.auth.models import (
    EmailChange,
    EmailLinkRequest,
    EmailToken,
    User,
)

# The two kinds of mailed single-use token — a link's (`EmailToken`) and an email change's
# (`EmailChange`) — share their columns and their life: live until used or expired.
Mailed = type[EmailToken] | type[EmailChange]


def _spend(model: Mailed, *where: ColumnElement[bool], **also: Any) -> Update:
    """Spend the live tokens that match `where` (setting `also` too), atomically: of two concurrent
    spends of one token exactly one gets it (the second waits for the row lock, then finds it
    used)."""
    return (
        update(model)
        .where(*where, model.used_at.is_(None), model.expires_at > func.now())
        .values(used_at=func.now(), **also)
        .execution_options(synchronize_session=False)
    )


async def _state(session: AsyncSession, model: Mailed, *where: ColumnElement[bool]) -> str:
    """`valid`, `used`, `expired` or `unknown`: a look at a token that does not spend it."""
    statement = select(model.used_at, model.expires_at > func.now()).where(*where)
    row = (await session.execute(statement)).first()
    if row is None:
        return "unknown"
    used_at, live = row
    if used_at is not None:
        return "used"
    return "valid" if live else "expired"


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
        statement = _spend(EmailToken, EmailToken.user_id == user_id, EmailToken.purpose == purpose)
        return len((await self.session.scalars(statement.returning(EmailToken.token_hash))).all())

    async def use(self, token_hash: bytes, purpose: str) -> uuid.UUID | None:
        """Spend a live token atomically; the owner's id, or None if unknown, used or expired."""
        statement = _spend(EmailToken, EmailToken.token_hash == token_hash, EmailToken.purpose == purpose)
        return await self.session.scalar(statement.returning(EmailToken.user_id))

    async def get_state(self, token_hash: bytes, purpose: str) -> str:
        """`valid`, `used`, `expired` or `unknown`: a look at a token that does not spend it."""
        return await _state(
            self.session, EmailToken, EmailToken.token_hash == token_hash, EmailToken.purpose == purpose
        )


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

    async def delete_for(self, email: str, purposes: Collection[str] | None = None) -> None:
        """Drop the waiting asks for `email` (of `purposes`; None: of any)."""
        conditions = [EmailLinkRequest.email == email.lower()]
        if purposes is not None:
            conditions.append(EmailLinkRequest.purpose.in_(purposes))
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
        statement = _spend(EmailChange, EmailChange.user_id == user_id).returning(EmailChange.token_hash)
        return len((await self.session.scalars(statement)).all())

    async def claim(self, token_hash: bytes) -> ClaimedChange | None:
        """Spend a live ask atomically (one of two concurrent claims gets it)."""
        statement = _spend(EmailChange, EmailChange.token_hash == token_hash, confirmed_at=func.now())
        returning = statement.returning(EmailChange.user_id, EmailChange.old_email, EmailChange.new_email)
        row = (await self.session.execute(returning)).first()
        return ClaimedChange(row[0], row[1], row[2]) if row is not None else None

    async def get_state(self, token_hash: bytes) -> str:
        """`valid`, `used`, `expired` or `unknown`: a look at a token that does not spend it."""
        return await _state(self.session, EmailChange, EmailChange.token_hash == token_hash)

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


class MailedLinks:
    """What was mailed to the account's addresses as single-use links, on the request's session: the
    verification and reset tokens, the asks for them waiting for the upkeep, and the email-change
    asks. The account and the email-change services both keep them, and void them together."""

    def __init__(self, session: AsyncSession) -> None:
        self.tokens = EmailTokenRepository(session)
        self.requests = EmailLinkRequestRepository(session)
        self.changes = EmailChangeRepository(session)

    async def void(self, user_id: uuid.UUID, email: str, purposes: Collection[str]) -> None:
        """Spend the user's live links of `purposes`, drop the asks for them waiting for `email`, and
        spend every live email-change ask: a link mailed before a new password or a new address
        must not undo it (the old mailbox may be someone else's now)."""
        for purpose in purposes:
            await self.tokens.spend_all(user_id, purpose)
        await self.requests.delete_for(email, purposes)
        await self.changes.spend_all(user_id)
