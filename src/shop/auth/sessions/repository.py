"""Sessions with their refresh tokens, and the bearer guard's read of a live session's account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    bindparam,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import (
    RefreshToken,
    Session,
    User,
)
from shop.core.db import HotRead

# What the bearer guard reads on every authenticated request: the account of a live session, in
# one indexed round trip. Only what a caller may see of its account (never the password hash):
# GET /me answers with it as it is.
_SIGNED_IN_ACCOUNT = (
    select(
        User.id,
        User.email,
        User.email_verified,
        User.is_active,
        User.role,
        User.mfa_enabled.label("mfa_enabled"),  # type: ignore[attr-defined]  # a column_property
        User.has_password.label("has_password"),  # type: ignore[attr-defined]
        User.identities.label("identities"),  # type: ignore[attr-defined]
        User.passkeys.label("passkeys"),  # type: ignore[attr-defined]  # a column_property too
        User.created_at,
        User.last_login_at,
    )
    .join(Session, Session.user_id == User.id)
    .where(
        Session.id == bindparam("sid"),
        Session.user_id == bindparam("uid"),
        Session.revoked_at.is_(None),
        Session.expires_at > func.now(),
        # SESSION_MAX_LIFETIME_SECONDS, also for sessions made before the setting was lowered.
        Session.created_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, bindparam("max_age")),
        User.is_active,
    )
)
_LIVE_SESSION_ACCOUNT = HotRead(_SIGNED_IN_ACCOUNT)

# FOR KEY SHARE (SQLAlchemy's `key_share=True` alone is FOR NO KEY UPDATE): it conflicts with a
# deletion only, so an admin's UPDATE of the row (role, is_active) never waits for the user's own
# writes — it did, and with the admins' lock taken in the other order that was a deadlock.
_HELD_SESSION_ACCOUNT = _SIGNED_IN_ACCOUNT.with_for_update(read=True, key_share=True, of=User)

# The statements of every token refresh, built once (building one costs more than running the cached
# compilation of it).
_REFRESH_TOKEN_SESSION_USER = (
    select(RefreshToken, Session, User)
    .join(Session, Session.id == RefreshToken.session_id)
    .join(User, User.id == Session.user_id)
    .where(RefreshToken.token_hash == bindparam("hash"))
    .execution_options(populate_existing=True)
)
_CLAIM_REFRESH_TOKEN = (
    update(RefreshToken)
    .where(RefreshToken.token_hash == bindparam("hash"), RefreshToken.rotated_at.is_(None))
    .values(rotated_at=func.now())
    .returning(RefreshToken.token_hash)
    .execution_options(synchronize_session=False)
)


@dataclass(frozen=True, slots=True)
class SignedInAccount:
    """What the bearer guard reads of a live session's account (`_SIGNED_IN_ACCOUNT`): the body of
    GET /me, typed. Never the password hash."""

    id: uuid.UUID
    email: str
    email_verified: bool
    is_active: bool
    role: str
    mfa_enabled: bool
    has_password: bool
    identities: list[str]  # the linked providers' names
    passkeys: int
    created_at: datetime
    last_login_at: datetime | None


class SessionRepository:
    """Sign-in sessions and their refresh tokens."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_live_account(
        self, user_id: uuid.UUID, session_id: uuid.UUID, max_lifetime_seconds: int, *, hold: bool = False
    ) -> SignedInAccount | None:
        """The account (as GET /me shows it) of a live session's active user, or None. A session
        older than the maximum lifetime is not live, whatever its `expires_at`.

        `hold`: the user row is locked FOR KEY SHARE to the end of the transaction. Only a deletion
        conflicts with it (ordinary UPDATEs of the row do not), so writes of the same user still run
        side by side, and `UserRepository.lock_for_deletion` waits for them."""
        params = {"sid": session_id, "uid": user_id, "max_age": max_lifetime_seconds}
        if hold:
            row = (await self.session.execute(_HELD_SESSION_ACCOUNT, params)).mappings().first()
        else:
            row = await _LIVE_SESSION_ACCOUNT.first(self.session, params)
        return SignedInAccount(**row) if row is not None else None

    async def signed_in_within(self, session_id: uuid.UUID, seconds: int) -> bool:
        """Was the session made by a sign-in (refreshes keep its creation) at most `seconds` ago? By
        the database's clock, the one that stamped it."""
        recent = Session.created_at >= func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)
        return bool(await self.session.scalar(select(recent).where(Session.id == session_id)))

    async def add(
        self,
        user_id: uuid.UUID,
        ttl_seconds: int,
        user_agent: str | None,
        ip: str | None,
        *,
        amr: list[str],
    ) -> Session:
        statement = (
            insert(Session)
            .values(
                user_id=user_id,
                expires_at=func.now() + timedelta(seconds=ttl_seconds),
                user_agent=user_agent,
                ip=ip,
                amr=amr,
            )
            .returning(Session)
        )
        created = await self.session.scalar(statement)
        if created is None:  # pragma: no cover - INSERT … RETURNING always returns the row
            raise RuntimeError("session insert returned nothing")
        return created

    async def add_refresh_token(self, session_id: uuid.UUID, token_hash: bytes, expires_at: datetime) -> None:
        """A new refresh token of the session, expiring with it."""
        await self.session.execute(
            insert(RefreshToken).values(token_hash=token_hash, session_id=session_id, expires_at=expires_at)
        )

    async def get_by_refresh_token(self, token_hash: bytes) -> tuple[RefreshToken, Session, User] | None:
        """The token, its session and the session's user, in one statement (a refresh needs all
        three)."""
        row = (await self.session.execute(_REFRESH_TOKEN_SESSION_USER, {"hash": token_hash})).first()
        return (row[0], row[1], row[2]) if row is not None else None

    async def claim_refresh_token(self, token_hash: bytes) -> bool:
        """Mark the token rotated if nobody did yet: exactly one concurrent caller gets True."""
        return (await self.session.scalar(_CLAIM_REFRESH_TOKEN, {"hash": token_hash})) is not None

    async def get_rotated_at(self, token_hash: bytes) -> datetime | None:
        return await self.session.scalar(
            select(RefreshToken.rotated_at).where(RefreshToken.token_hash == token_hash)
        )

    async def extend(
        self, session_id: uuid.UUID, ttl_seconds: int, max_lifetime_seconds: int, token_hash: bytes
    ) -> datetime:
        """Move the session's expiry `ttl_seconds` ahead, never past its creation plus the maximum
        lifetime, and add its new refresh token, expiring with it; the new expiry. One statement
        (a data-modifying CTE): a refresh makes one round trip fewer."""
        extended = (
            update(Session)
            .where(Session.id == session_id)
            .values(
                last_used_at=func.now(),
                expires_at=func.least(
                    func.now() + timedelta(seconds=ttl_seconds),
                    Session.created_at + timedelta(seconds=max_lifetime_seconds),
                ),
            )
            .returning(Session.id, Session.expires_at)
            .cte("extended")
        )
        # Built per call: an INSERT executed with parameters is an ORM bulk insert of those rows.
        statement = (
            insert(RefreshToken)
            .from_select(
                ["token_hash", "session_id", "expires_at"],
                select(literal(token_hash, LargeBinary), extended.c.id, extended.c.expires_at),
            )
            .returning(RefreshToken.expires_at)
        )
        expires_at = await self.session.scalar(statement)
        if expires_at is None:  # pragma: no cover - the caller holds the session's token row
            raise RuntimeError("session vanished")
        return expires_at

    async def _revoke(self, reason: str, *conditions: ColumnElement[bool]) -> list[uuid.UUID]:
        """Revoke the live sessions matching `conditions`; their ids."""
        statement = (
            update(Session)
            .where(Session.revoked_at.is_(None), *conditions)
            .values(revoked_at=func.now(), revoked_reason=reason)
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
        return list((await self.session.scalars(statement)).all())

    async def revoke(self, session_id: uuid.UUID, reason: str, *, user_id: uuid.UUID | None = None) -> bool:
        owner = [Session.user_id == user_id] if user_id is not None else []
        return bool(await self._revoke(reason, Session.id == session_id, *owner))

    async def revoke_all(self, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None) -> int:
        kept = [Session.id != keep] if keep is not None else []
        return len(await self._revoke(reason, Session.user_id == user_id, *kept))

    async def list_live(self, user_id: uuid.UUID) -> list[Session]:
        statement = (
            select(Session)
            .where(Session.user_id == user_id, Session.revoked_at.is_(None), Session.expires_at > func.now())
            .order_by(Session.last_used_at.desc(), Session.id)
        )
        return list((await self.session.scalars(statement)).all())

    async def list_all(self, user_id: uuid.UUID) -> list[Session]:
        """Every session the user has, ended ones too until they are purged (a personal-data export)."""
        statement = (
            select(Session).where(Session.user_id == user_id).order_by(Session.created_at.desc(), Session.id)
        )
        return list((await self.session.scalars(statement)).all())
