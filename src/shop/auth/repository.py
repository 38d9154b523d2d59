"""The queries shared by auth's capabilities: the accounts themselves and the audit log (each
capability's own aggregates have their repository in its package)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    Uuid,
    and_,
    bindparam,
    case,
    delete,
    func,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import (
    AuditEvent,
    User,
)
from shop.core.db import HotRead

# Serialises every change that could remove the last active admin (demotion, deactivation,
# deletion): the count of the others is read under it, so two such changes never both pass.
_LOCK_ADMINS = text("SELECT pg_advisory_xact_lock(hashtextextended('auth.last_admin', 0))")

# An account not locked now (a lock that has expired no longer counts), on auth.users: the failures'
# count and a completed sign-in both hold to it.
_NOT_LOCKED_SQL = "(locked_until IS NULL OR locked_until <= now())"
_NOT_LOCKED = text(_NOT_LOCKED_SQL)

# What a completed sign-in does to its account: the failure count, the lockout doubling and the lock
# reset, the time stamped, and the password's new hash kept when it was rehashed — unless a lock
# arrived meanwhile (no row then). `record_successful_login` sends it alone; a password sign-in sends
# it with its new session, in one statement (sessions' `_SIGN_IN_WITH_PASSWORD`).
SUCCESSFUL_SIGN_IN = f"""
UPDATE auth.users
SET failed_login_count = 0, lockout_count = 0, locked_until = NULL, last_login_at = now(),
    updated_at = now(), password_hash = coalesce(:new_hash, password_hash)
WHERE id = :user_id AND {_NOT_LOCKED_SQL}
RETURNING id AS user_id"""  # noqa: S608 - joined of this module's constants, no input
SUCCESSFUL_SIGN_IN_PARAMETERS = (bindparam("user_id", type_=Uuid), bindparam("new_hash", type_=String))
_RECORD_SUCCESS = text(SUCCESSFUL_SIGN_IN).bindparams(*SUCCESSFUL_SIGN_IN_PARAMETERS)


@dataclass(frozen=True, slots=True)
class PasswordAccount:
    """What a password sign-in reads of an account before it checks the password
    (`for_password_sign_in`)."""

    id: uuid.UUID
    email: str
    password_hash: str | None
    email_verified: bool
    is_active: bool
    locked_until: datetime | None
    mfa_enabled: bool


# The read of every password sign-in, on the driver (`HotRead`): outside a transaction, as the hash
# that follows takes tens of milliseconds.
_PASSWORD_ACCOUNT = HotRead(
    select(
        User.id,
        User.email,
        User.password_hash,
        User.email_verified,
        User.is_active,
        User.locked_until,
        User.mfa_enabled.label("mfa_enabled"),  # type: ignore[attr-defined]  # a column_property
    ).where(func.lower(User.email) == bindparam("email"))
)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(func.lower(User.email) == email.lower()))

    async def for_password_sign_in(self, email: str) -> PasswordAccount | None:
        row = await _PASSWORD_ACCOUNT.first(self.session, {"email": email.lower()})
        return None if row is None else PasswordAccount(**row)

    async def add(
        self, email: str, password_hash: str | None, *, role: str = "customer", verified: bool = False
    ) -> uuid.UUID | None:
        """The new user's id, or None when the email is taken (also under concurrent inserts)."""
        statement = (
            insert(User)
            .values(email=email.lower(), password_hash=password_hash, role=role, email_verified=verified)
            .on_conflict_do_nothing(index_elements=[func.lower(User.email)])
            .returning(User.id)
        )
        return await self.session.scalar(statement)

    async def record_failed_login(
        self, user_id: uuid.UUID, *, threshold: int, base_seconds: int, max_seconds: int
    ) -> tuple[bool, datetime | None]:
        """Count one failure in a single atomic UPDATE. Returns (counted, locked_until).

        `counted` is False when the account was locked meanwhile (a locked account does not count).
        When the lock has expired the count starts from zero; each lockout lasts twice the last."""
        expired = and_(User.locked_until.is_not(None), User.locked_until <= func.now())
        base_count = case((expired, 0), else_=User.failed_login_count)
        reaches = base_count + 1 >= threshold
        # The exponent is capped first: 2^30 times any base is already past any sensible maximum.
        lock_seconds = func.least(
            base_seconds * func.power(2, func.least(User.lockout_count, 30)), max_seconds
        )
        statement = (
            update(User)
            .where(User.id == user_id, _NOT_LOCKED)
            .values(
                failed_login_count=case((reaches, 0), else_=base_count + 1),
                lockout_count=case((reaches, User.lockout_count + 1), else_=User.lockout_count),
                locked_until=case(
                    (reaches, func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lock_seconds)),
                    else_=None,
                ),
            )
            .returning(User.locked_until)
            .execution_options(synchronize_session=False)
        )
        result = (await self.session.execute(statement)).first()
        if result is None:
            return False, None
        return True, result[0]

    async def get_locked_until(self, user_id: uuid.UUID) -> datetime | None:
        """Read from the database, not the session's copy: a concurrent request may have locked."""
        return await self.session.scalar(select(User.locked_until).where(User.id == user_id))

    async def record_successful_login(self, user_id: uuid.UUID, new_hash: str | None) -> bool:
        """Reset the failure count and the lockout doubling, unless a lock arrived meanwhile."""
        result = await self.session.execute(_RECORD_SUCCESS, {"user_id": user_id, "new_hash": new_hash})
        return result.first() is not None

    async def set_password(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(password_hash=password_hash, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )

    async def unlock(self, user_id: uuid.UUID, *, keep_doubling: bool = False) -> None:
        """Clear the failure count and the lock, and the lockout doubling unless `keep_doubling`."""
        values: dict[str, Any] = {"failed_login_count": 0, "locked_until": None}
        if not keep_doubling:
            values["lockout_count"] = 0
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def set_email_verified(self, user_id: uuid.UUID) -> str | None:
        """Mark the address proven; the address, when it was not proven before (else None)."""
        return await self.session.scalar(
            update(User)
            .where(User.id == user_id, User.email_verified.is_(False))
            .values(email_verified=True, updated_at=func.now())
            .returning(User.email)
            .execution_options(synchronize_session=False)
        )

    async def update(self, user_id: uuid.UUID, values: dict[str, Any]) -> User | None:
        statement = (
            update(User)
            .where(User.id == user_id)
            .values(**values, updated_at=func.now())
            .returning(User.id)
            .execution_options(synchronize_session=False)
        )
        if await self.session.scalar(statement) is None:
            return None
        # Read back whole, `mfa_enabled` included (RETURNING leaves expressions of other tables out).
        return await self.session.scalar(
            select(User).where(User.id == user_id).execution_options(populate_existing=True)
        )

    async def lock_for_deletion(self, user_id: uuid.UUID) -> bool:
        """Lock the user row FOR UPDATE: wait for every writing request of the user (they hold it
        FOR KEY SHARE, see `SessionRepository.get_live_account`), and keep new ones out until the
        deletion commits. False when the user is gone already."""
        statement = select(User.id).where(User.id == user_id).with_for_update()
        return (await self.session.scalar(statement)) is not None

    async def lock_for_update(self, user_id: uuid.UUID) -> None:
        """Lock the user row as an UPDATE of it would (FOR NO KEY UPDATE), ahead of the update."""
        await self.session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))

    async def delete(self, user_id: uuid.UUID) -> None:
        await self.session.execute(delete(User).where(User.id == user_id))

    async def lock_admins(self) -> None:
        """Wait for, then hold until the transaction ends, the lock over the set of admins."""
        await self.session.execute(_LOCK_ADMINS)

    async def count_other_active_admins(self, user_id: uuid.UUID) -> int:
        statement = select(func.count()).where(User.role == "admin", User.is_active, User.id != user_id)
        return int(await self.session.scalar(statement) or 0)

    async def is_active_admin(self, user_id: uuid.UUID) -> bool:
        """Read from the database (not the session's copy): another request may just have changed it."""
        statement = select(User.id).where(User.id == user_id, User.role == "admin", User.is_active)
        return (await self.session.scalar(statement)) is not None

    async def list_newest(self, email: str | None, limit: int) -> list[User]:
        statement = select(User)
        if email is not None:
            statement = statement.where(func.lower(User.email) == email.lower())
        statement = statement.order_by(User.created_at.desc(), User.id).limit(limit)
        return list((await self.session.scalars(statement)).all())


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        event: str,
        outcome: str,
        *,
        user_id: uuid.UUID | None,
        ip: str | None,
        user_agent: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self.session.execute(
            insert(AuditEvent).values(
                event=event,
                outcome=outcome,
                user_id=user_id,
                ip=ip,
                user_agent=user_agent,
                # SQL NULL, not the JSON value null: "no details" reads the same everywhere.
                details=details if details is not None else null(),
            )
        )

    async def scrub(self, user_id: uuid.UUID) -> None:
        """Keep only the user id, event, outcome and time of the user's events (an erased account)."""
        await self.session.execute(
            update(AuditEvent)
            .where(AuditEvent.user_id == user_id)
            .values(ip=None, user_agent=None, details=null())
            .execution_options(synchronize_session=False)
        )

    async def list_for(self, user_id: uuid.UUID) -> list[AuditEvent]:
        """The user's events, oldest first (a personal-data export shows them)."""
        statement = (
            select(AuditEvent)
            .where(AuditEvent.user_id == user_id)
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
        return list((await self.session.scalars(statement)).all())


_TRY_PURGE_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended('auth.purge', 0))")
# "Ended" per table: a session when it expired or was revoked; a refresh token when it expired (a
# rotated one stays until then, so its reuse is still recognised); a login challenge when it expired
# or was spent; an email token when it expired or was used; a passkey challenge when it expired.
_PURGES = {
    "sessions": "DELETE FROM auth.sessions WHERE expires_at < :cutoff OR revoked_at < :cutoff",
    "refresh_tokens": "DELETE FROM auth.refresh_tokens WHERE expires_at < :cutoff",
    "mfa_challenges": "DELETE FROM auth.mfa_challenges WHERE expires_at < :cutoff OR spent_at < :cutoff",
    "email_tokens": "DELETE FROM auth.email_tokens WHERE expires_at < :cutoff OR used_at < :cutoff",
    # Provider sign-ins under way and their one-time codes are of no use once expired (minutes).
    "oidc_states": "DELETE FROM auth.oidc_states WHERE expires_at < now()",
    "oidc_codes": "DELETE FROM auth.oidc_codes WHERE expires_at < now()",
    # Worth nothing after their 5 minutes, and anyone may ask for one: gone at the next purge.
    "passkey_challenges": "DELETE FROM auth.passkey_challenges WHERE expires_at < now()",
}


class PurgeRepository:
    """The upkeep's purge of what ended long ago, across the capabilities' tables."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def try_lock(self) -> bool:
        """The purge's lock, to the end of the transaction; False when another instance holds it."""
        return bool(await self.session.scalar(_TRY_PURGE_LOCK))

    async def purge_ended_before(self, days: int) -> dict[str, int]:
        """Delete what ended more than `days` ago; how many rows, per table."""
        cutoff = await self.session.scalar(text("SELECT now() - make_interval(days => :d)"), {"d": days})
        counts = {}
        for table, statement in _PURGES.items():
            result = await self.session.execute(text(statement), {"cutoff": cutoff})
            counts[table] = int(getattr(result, "rowcount", 0) or 0)
        return counts
