"""The queries of provider sign-in: identities, the states of sign-ins under way, one-time codes."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import LinkedIdentity, OidcCode, OidcState, User
from shop.core.db import Database


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, provider: str, subject: str) -> LinkedIdentity | None:
        return await self.session.scalar(
            select(LinkedIdentity).where(
                LinkedIdentity.provider == provider, LinkedIdentity.subject == subject
            )
        )

    async def add(
        self, user_id: uuid.UUID, provider: str, subject: str, email: str | None
    ) -> LinkedIdentity | None:
        """The new identity, or None when (provider, subject) is linked already (also under a
        concurrent link: the unique index decides)."""
        statement = (
            insert(LinkedIdentity)
            .values(user_id=user_id, provider=provider, subject=subject, email=email, last_used_at=func.now())
            .on_conflict_do_nothing(index_elements=[LinkedIdentity.provider, LinkedIdentity.subject])
            .returning(LinkedIdentity)
        )
        return await self.session.scalar(statement)

    async def touch(self, identity_id: uuid.UUID) -> None:
        await self.session.execute(
            update(LinkedIdentity)
            .where(LinkedIdentity.id == identity_id)
            .values(last_used_at=func.now())
            .execution_options(synchronize_session=False)
        )

    async def list_for(self, user_id: uuid.UUID) -> list[LinkedIdentity]:
        statement = (
            select(LinkedIdentity)
            .where(LinkedIdentity.user_id == user_id)
            .order_by(LinkedIdentity.created_at, LinkedIdentity.id)
        )
        return list((await self.session.scalars(statement)).all())

    async def get_owned(self, user_id: uuid.UUID, identity_id: uuid.UUID) -> LinkedIdentity | None:
        return await self.session.scalar(
            select(LinkedIdentity).where(LinkedIdentity.id == identity_id, LinkedIdentity.user_id == user_id)
        )

    async def count_for(self, user_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(LinkedIdentity).where(LinkedIdentity.user_id == user_id)
            )
            or 0
        )

    async def delete(self, identity_id: uuid.UUID) -> None:
        await self.session.execute(delete(LinkedIdentity).where(LinkedIdentity.id == identity_id))


class OidcStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, state: OidcState) -> None:
        self.session.add(state)
        await self.session.flush()

    async def claim(self, state_hash: bytes, provider: str) -> OidcState | None:
        """Spend a live state of this provider: it is deleted as it is read, so of two callbacks
        with one state exactly one gets it."""
        statement = (
            delete(OidcState)
            .where(
                OidcState.state_hash == state_hash,
                OidcState.provider == provider,
                OidcState.expires_at > func.now(),
            )
            .returning(OidcState)
            .execution_options(synchronize_session=False)
        )
        return await self.session.scalar(statement)

    async def purge_expired(self) -> int:
        result = await self.session.execute(delete(OidcState).where(OidcState.expires_at <= func.now()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# The exchange's first statement, built once: the code spent (deleted as it is read) and its
# account read with it.
_CLAIMED_CODE = (
    delete(OidcCode)
    .where(OidcCode.code_hash == bindparam("claimed_hash"), OidcCode.expires_at > func.now())
    .returning(OidcCode.user_id, OidcCode.code_challenge)
    .cte("claimed")
)
_CLAIM_WITH_ACCOUNT = select(_CLAIMED_CODE.c.code_challenge, User).join(
    User, User.id == _CLAIMED_CODE.c.user_id
)


class OidcCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, code_hash: bytes, user_id: uuid.UUID, provider: str, code_challenge: str, ttl_seconds: int
    ) -> None:
        await self.session.execute(
            insert(OidcCode).values(
                code_hash=code_hash,
                user_id=user_id,
                provider=provider,
                code_challenge=code_challenge,
                expires_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, ttl_seconds),
            )
        )

    async def claim(self, code_hash: bytes) -> OidcCode | None:
        """Spend a live code (deleted as it is read: one exchange gets it)."""
        statement = (
            delete(OidcCode)
            .where(OidcCode.code_hash == code_hash, OidcCode.expires_at > func.now())
            .returning(OidcCode)
            .execution_options(synchronize_session=False)
        )
        return await self.session.scalar(statement)

    async def claim_with_account(self, code_hash: bytes) -> tuple[str, User] | None:
        """Spend a live code, as `claim`, and read its account in the same statement: the code's PKCE
        challenge and the account, or None."""
        row = (await self.session.execute(_CLAIM_WITH_ACCOUNT, {"claimed_hash": code_hash})).first()
        return (row[0], row[1]) if row is not None else None

    async def purge_expired(self) -> int:
        result = await self.session.execute(delete(OidcCode).where(OidcCode.expires_at <= func.now()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class SpentAtOnce:
    """Spends a state or a code for good in a unit of work of its own, committed at once: the
    callback holds no transaction open while it asks the provider, and a refusal that rolls the
    request back cannot give a code a second use. The holder of the `Database` in provider sign-in,
    as the `Lockout` is for failures (ADR 0007): the service itself has none."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def state(self, state_hash: bytes, provider: str) -> OidcState | None:
        async with self.database.unit_of_work() as session:
            return await OidcStateRepository(session).claim(state_hash, provider)

    async def code(self, code_hash: bytes) -> None:
        async with self.database.unit_of_work() as session:
            await OidcCodeRepository(session).claim(code_hash)
