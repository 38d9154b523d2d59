"""Two-step sign-in: TOTP factors, recovery codes and login challenges (mfa_tokens)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import (
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import (
    MfaChallenge,
    RecoveryCode,
    TotpFactor,
)


class TotpFactorRepository:
    """A user's authenticator secret (sealed), whether it is confirmed, and its last accepted step."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> TotpFactor | None:
        return await self.session.scalar(
            select(TotpFactor).where(TotpFactor.user_id == user_id).execution_options(populate_existing=True)
        )

    async def put_pending(self, user_id: uuid.UUID, sealed_secret: bytes) -> bool:
        """Store a setup awaiting its first code, replacing a pending one; False when one is confirmed."""
        statement = (
            insert(TotpFactor)
            .values(user_id=user_id, secret=sealed_secret)
            .on_conflict_do_update(
                index_elements=[TotpFactor.user_id],
                set_={"secret": sealed_secret, "created_at": func.now(), "last_step": None},
                where=TotpFactor.enabled_at.is_(None),
            )
            .returning(TotpFactor.user_id)
        )
        return (await self.session.scalar(statement)) is not None

    async def enable(self, user_id: uuid.UUID, step: int) -> bool:
        """Confirm a pending setup with the step of its first code; False if none is pending."""
        statement = (
            update(TotpFactor)
            .where(TotpFactor.user_id == user_id, TotpFactor.enabled_at.is_(None))
            .values(enabled_at=func.now(), last_step=step)
            .returning(TotpFactor.user_id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalar(statement)) is not None

    async def claim_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Accept `step` once: only when it is later than every step accepted before. Atomic (the row
        lock orders concurrent claims), so two requests never both accept one code."""
        statement = (
            update(TotpFactor)
            .where(
                TotpFactor.user_id == user_id,
                TotpFactor.enabled_at.is_not(None),
                or_(TotpFactor.last_step.is_(None), TotpFactor.last_step < step),
            )
            .values(last_step=step)
            .returning(TotpFactor.user_id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalar(statement)) is not None

    async def delete_enabled(self, user_id: uuid.UUID) -> bool:
        """Turn two-step sign-in off; False when it was not on."""
        statement = (
            delete(TotpFactor)
            .where(TotpFactor.user_id == user_id, TotpFactor.enabled_at.is_not(None))
            .returning(TotpFactor.user_id)
        )
        return (await self.session.scalar(statement)) is not None


class RecoveryCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(self, user_id: uuid.UUID, code_hashes: list[bytes]) -> None:
        await self.delete_all(user_id)
        await self.session.execute(
            insert(RecoveryCode), [{"user_id": user_id, "code_hash": code_hash} for code_hash in code_hashes]
        )

    async def use(self, user_id: uuid.UUID, code_hash: bytes) -> bool:
        """Spend an unused code atomically: exactly one concurrent caller gets True."""
        statement = (
            update(RecoveryCode)
            .where(
                RecoveryCode.code_hash == code_hash,
                RecoveryCode.user_id == user_id,
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=func.now())
            .returning(RecoveryCode.code_hash)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalar(statement)) is not None

    async def count_unused(self, user_id: uuid.UUID) -> int:
        statement = select(func.count()).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
        return int(await self.session.scalar(statement) or 0)

    async def delete_all(self, user_id: uuid.UUID) -> None:
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


class MfaChallengeRepository:
    """The pending second steps of logins (`mfa_token`s), stored as hashes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user_id: uuid.UUID, token_hash: bytes, ip: str | None, ttl_seconds: int) -> None:
        # The user's expired challenges go as new ones come: the table holds only live attempts.
        await self.session.execute(
            delete(MfaChallenge).where(MfaChallenge.user_id == user_id, MfaChallenge.expires_at <= func.now())
        )
        await self.session.execute(
            insert(MfaChallenge).values(
                token_hash=token_hash,
                user_id=user_id,
                ip=ip,
                expires_at=func.now() + timedelta(seconds=ttl_seconds),
            )
        )

    async def claim(self, token_hash: bytes, ip: str | None) -> uuid.UUID | None:
        """Spend a live challenge from the address it was made for; its user, or None.

        The row stays locked until the request ends: a concurrent claim of the same token waits, and
        finds it spent if this request succeeds, or live again if this one fails and rolls back."""
        statement = (
            update(MfaChallenge)
            .where(
                MfaChallenge.token_hash == token_hash,
                MfaChallenge.spent_at.is_(None),
                MfaChallenge.expires_at > func.now(),
                MfaChallenge.ip.is_not_distinct_from(ip),
            )
            .values(spent_at=func.now())
            .returning(MfaChallenge.user_id)
            .execution_options(synchronize_session=False)
        )
        return await self.session.scalar(statement)

    async def record_failure(self, token_hash: bytes, max_attempts: int) -> None:
        """Count a wrong code; the last allowed one spends the challenge."""
        attempts = MfaChallenge.failed_attempts + 1
        await self.session.execute(
            update(MfaChallenge)
            .where(MfaChallenge.token_hash == token_hash, MfaChallenge.spent_at.is_(None))
            .values(
                failed_attempts=attempts,
                spent_at=case((attempts >= max_attempts, func.now()), else_=None),
            )
            .execution_options(synchronize_session=False)
        )

    async def spend_all(self, user_id: uuid.UUID) -> None:
        """Void every pending second step of the user (password set, two-step sign-in turned off)."""
        await self.session.execute(
            update(MfaChallenge)
            .where(MfaChallenge.user_id == user_id, MfaChallenge.spent_at.is_(None))
            .values(spent_at=func.now())
            .execution_options(synchronize_session=False)
        )
