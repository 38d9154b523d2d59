"""The queries of provider sign-in: identities, the states of sign-ins under way, one-time codes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import LargeBinary, String, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import LinkedIdentity, OidcCode, OidcState
from shop.auth.sessions.repository import SIGN_IN_PARAMETERS, SIGN_IN_WRITES
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


# The whole exchange in one statement (one round trip, in autocommit): the code spent whatever else
# is found (deleted as it is read: one exchange gets it), its account read, and — only when the
# verifier's S256 is the code's challenge, the account is active and has no second step — the sign-in's
# writes (`SIGN_IN_WRITES`). What was found is answered, so a refusal says why without a second read.
_EXCHANGE = text(
    f"""
WITH spent AS (
    DELETE FROM auth.oidc_codes
    WHERE code_hash = :code_hash AND expires_at > now()
    RETURNING user_id, code_challenge = :challenge AS verified
),
account AS (
    SELECT s.verified, u.id AS user_id, u.email, u.email_verified, u.is_active,
           EXISTS (
               SELECT FROM auth.totp_factors AS f WHERE f.user_id = u.id AND f.enabled_at IS NOT NULL
           ) AS mfa_enabled
    FROM spent AS s
    JOIN auth.users AS u ON u.id = s.user_id
),
signing_in AS (
    SELECT user_id FROM account WHERE verified AND is_active AND NOT mfa_enabled
),
{SIGN_IN_WRITES}
SELECT a.verified, a.user_id, a.email, a.email_verified, a.is_active, a.mfa_enabled,
       (SELECT id FROM new_session) AS session_id
FROM account AS a
"""  # noqa: S608 - joined of this module's constants, no input
).bindparams(
    bindparam("code_hash", type_=LargeBinary),
    bindparam("challenge", type_=String),
    *SIGN_IN_PARAMETERS,
)


@dataclass(frozen=True, slots=True)
class Exchanged:
    """What `OidcCodeRepository.exchange` found and did: `session_id` is the new session's, None when
    none was opened (the other fields say why)."""

    verified: bool
    user_id: uuid.UUID
    email: str
    email_verified: bool
    is_active: bool
    mfa_enabled: bool
    session_id: uuid.UUID | None


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

    async def exchange(
        self, code_hash: bytes, challenge: str, opening: Mapping[str, object]
    ) -> Exchanged | None:
        """Spend a live code and, when `challenge` is its own and its account may sign in without a
        second step, open the account's session (`opening`: the parameters of `SIGN_IN_WRITES`), in
        one statement (`_EXCHANGE`); None for an unknown, spent or expired code."""
        params = {**opening, "code_hash": code_hash, "challenge": challenge}
        row = (await self.session.execute(_EXCHANGE, params)).mappings().first()
        return Exchanged(**row) if row is not None else None

    async def purge_expired(self) -> int:
        result = await self.session.execute(delete(OidcCode).where(OidcCode.expires_at <= func.now()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class SpentAtOnce:
    """Spends a state for good in a unit of work of its own, committed at once: the callback holds
    no transaction open while it asks the provider. The holder of the `Database` in provider sign-in,
    as the `Lockout` is for failures (ADR 0007): the service itself has none."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def state(self, state_hash: bytes, provider: str) -> OidcState | None:
        async with self.database.unit_of_work() as session:
            return await OidcStateRepository(session).claim(state_hash, provider)
