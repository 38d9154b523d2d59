"""Every query of the auth context: one repository per aggregate (users, sessions with their refresh
tokens, email tokens, the audit log), each built from the session."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import AuditEvent, EmailToken, RefreshToken, Session, User

# One indexed round trip on the hot path of every authenticated request: plain SQL through the
# request's own session, with no ORM identity-map work.
_LIVE_SESSION_ROLE = text(
    "SELECT u.role FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id "
    "WHERE s.id = :sid AND s.user_id = :uid AND s.revoked_at IS NULL "
    "AND s.expires_at > now() AND u.is_active"
)

_NOT_LOCKED = or_(User.locked_until.is_(None), User.locked_until <= func.now())


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(func.lower(User.email) == email.lower()))

    async def add(
        self, email: str, password_hash: str, *, role: str = "customer", verified: bool = False
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
        values: dict[str, Any] = {
            "failed_login_count": 0,
            "lockout_count": 0,
            "locked_until": None,
            "last_login_at": func.now(),
        }
        if new_hash is not None:
            values["password_hash"] = new_hash
        statement = (
            update(User)
            .where(User.id == user_id, _NOT_LOCKED)
            .values(**values)
            .returning(User.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalar(statement)) is not None

    async def set_password(self, user_id: uuid.UUID, password_hash: str, *, unlock: bool) -> None:
        values: dict[str, Any] = {"password_hash": password_hash, "updated_at": func.now()}
        if unlock:
            values.update(failed_login_count=0, lockout_count=0, locked_until=None)
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def set_email_verified(self, user_id: uuid.UUID) -> None:
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(email_verified=True, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )

    async def update(self, user_id: uuid.UUID, values: dict[str, Any]) -> User | None:
        statement = (
            update(User)
            .where(User.id == user_id)
            .values(**values, updated_at=func.now())
            .returning(User)
            .execution_options(synchronize_session=False)
        )
        return await self.session.scalar(statement)

    async def delete(self, user_id: uuid.UUID) -> None:
        await self.session.execute(delete(User).where(User.id == user_id))

    async def list_newest(self, email: str | None, limit: int) -> list[User]:
        statement = select(User)
        if email is not None:
            statement = statement.where(func.lower(User.email) == email.lower())
        statement = statement.order_by(User.created_at.desc(), User.id).limit(limit)
        return list((await self.session.scalars(statement)).all())


class SessionRepository:
    """Sign-in sessions and their refresh tokens."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_live_role(self, user_id: uuid.UUID, session_id: uuid.UUID) -> str | None:
        """The role of a live session's active user, or None."""
        role = await self.session.scalar(_LIVE_SESSION_ROLE, {"sid": session_id, "uid": user_id})
        return str(role) if role is not None else None

    async def add(
        self, user_id: uuid.UUID, ttl_seconds: int, user_agent: str | None, ip: str | None
    ) -> Session:
        statement = (
            insert(Session)
            .values(
                user_id=user_id,
                expires_at=func.now() + _seconds(ttl_seconds),
                user_agent=user_agent,
                ip=ip,
            )
            .returning(Session)
        )
        created = await self.session.scalar(statement)
        if created is None:  # pragma: no cover - INSERT … RETURNING always returns the row
            raise RuntimeError("session insert returned nothing")
        return created

    async def add_refresh_token(self, session_id: uuid.UUID, token_hash: bytes, ttl_seconds: int) -> None:
        await self.session.execute(
            insert(RefreshToken).values(
                token_hash=token_hash, session_id=session_id, expires_at=func.now() + _seconds(ttl_seconds)
            )
        )

    async def get_by_refresh_token(self, token_hash: bytes) -> tuple[RefreshToken, Session] | None:
        statement = (
            select(RefreshToken, Session)
            .join(Session, Session.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == token_hash)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(statement)).first()
        return (row[0], row[1]) if row is not None else None

    async def claim_refresh_token(self, token_hash: bytes) -> bool:
        """Mark the token rotated if nobody did yet: exactly one concurrent caller gets True."""
        statement = (
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=func.now())
            .returning(RefreshToken.token_hash)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalar(statement)) is not None

    async def get_rotated_at(self, token_hash: bytes) -> datetime | None:
        return await self.session.scalar(
            select(RefreshToken.rotated_at).where(RefreshToken.token_hash == token_hash)
        )

    async def extend(self, session_id: uuid.UUID, ttl_seconds: int) -> datetime:
        statement = (
            update(Session)
            .where(Session.id == session_id)
            .values(last_used_at=func.now(), expires_at=func.now() + _seconds(ttl_seconds))
            .returning(Session.expires_at)
            .execution_options(synchronize_session=False)
        )
        expires_at = await self.session.scalar(statement)
        if expires_at is None:  # pragma: no cover - the caller holds the session's token row
            raise RuntimeError("session vanished")
        return expires_at

    async def revoke(self, session_id: uuid.UUID, reason: str, *, user_id: uuid.UUID | None = None) -> bool:
        conditions = [Session.id == session_id, Session.revoked_at.is_(None)]
        if user_id is not None:
            conditions.append(Session.user_id == user_id)
        statement = (
            update(Session)
            .where(*conditions)
            .values(revoked_at=func.now(), revoked_reason=reason)
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalar(statement)) is not None

    async def revoke_all(self, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None) -> int:
        conditions = [Session.user_id == user_id, Session.revoked_at.is_(None)]
        if keep is not None:
            conditions.append(Session.id != keep)
        statement = (
            update(Session)
            .where(*conditions)
            .values(revoked_at=func.now(), revoked_reason=reason)
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
        return len((await self.session.scalars(statement)).all())

    async def list_live(self, user_id: uuid.UUID) -> list[Session]:
        statement = (
            select(Session)
            .where(Session.user_id == user_id, Session.revoked_at.is_(None), Session.expires_at > func.now())
            .order_by(Session.last_used_at.desc(), Session.id)
        )
        return list((await self.session.scalars(statement)).all())


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
                expires_at=func.now() + _seconds(ttl_seconds),
            )
        )

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
                event=event, outcome=outcome, user_id=user_id, ip=ip, user_agent=user_agent, details=details
            )
        )
