"""Every query of the auth context: one repository per aggregate (users, sessions with their refresh
tokens, email tokens, the audit log, TOTP factors, recovery codes, login challenges), each built from
the session."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import (
    AuditEvent,
    EmailLinkRequest,
    EmailToken,
    MfaChallenge,
    RecoveryCode,
    RefreshToken,
    Session,
    SigningKey,
    TotpFactor,
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

# Serialises every change that could remove the last active admin (demotion, deactivation,
# deletion): the count of the others is read under it, so two such changes never both pass.
_LOCK_ADMINS = text("SELECT pg_advisory_xact_lock(hashtextextended('auth.last_admin', 0))")

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


class SessionRepository:
    """Sign-in sessions and their refresh tokens."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_live_account(
        self, user_id: uuid.UUID, session_id: uuid.UUID, max_lifetime_seconds: int, *, hold: bool = False
    ) -> dict[str, Any] | None:
        """The account (as GET /me shows it) of a live session's active user, or None. A session
        older than the maximum lifetime is not live, whatever its `expires_at`.

        `hold`: the user row is locked FOR KEY SHARE to the end of the transaction. Only a deletion
        conflicts with it (ordinary UPDATEs of the row do not), so writes of the same user still run
        side by side, and `UserRepository.lock_for_deletion` waits for them."""
        params = {"sid": session_id, "uid": user_id, "max_age": max_lifetime_seconds}
        if hold:
            row = (await self.session.execute(_HELD_SESSION_ACCOUNT, params)).mappings().first()
            return dict(row) if row is not None else None
        return await _LIVE_SESSION_ACCOUNT.first(self.session, params)

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
                expires_at=func.now() + _seconds(ttl_seconds),
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
                    func.now() + _seconds(ttl_seconds), Session.created_at + _seconds(max_lifetime_seconds)
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
                token_hash=token_hash, user_id=user_id, ip=ip, expires_at=func.now() + _seconds(ttl_seconds)
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


class NewSigningKey(Protocol):
    """A key pair to store (made by shop.auth.tokens.new_key), its private half already sealed."""

    @property
    def kid(self) -> str: ...
    @property
    def alg(self) -> str: ...
    @property
    def public_jwk(self) -> dict[str, str]: ...
    @property
    def sealed_private_key(self) -> bytes: ...


# pg_advisory_xact_lock key serialising key changes across instances ("shopKEYS").
_SIGNING_KEYS_LOCK = 0x73686F704B455953


class SigningKeyRepository:
    """The signing keys (auth.signing_keys). Changes happen under one advisory lock per database."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        """Wait for, then hold until the transaction ends, the right to change the keys."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SIGNING_KEYS_LOCK})

    async def try_lock(self) -> bool:
        """Take the lock if it is free; False when another instance holds it (it does the work)."""
        return bool(
            await self.session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SIGNING_KEYS_LOCK})
        )

    async def list_all(self) -> list[SigningKey]:
        state_order = case({"next": 0, "active": 1}, value=SigningKey.state, else_=2)
        rows = await self.session.scalars(
            select(SigningKey).order_by(
                state_order, SigningKey.retired_at.desc(), SigningKey.created_at.desc()
            )
        )
        return list(rows)

    async def add(self, key: NewSigningKey, state: str) -> None:
        await self.session.execute(
            insert(SigningKey).values(
                kid=key.kid,
                alg=key.alg,
                state=state,
                public_jwk=key.public_jwk,
                private_key=key.sealed_private_key,
                activated_at=func.now() if state == "active" else None,
            )
        )

    async def retire(self, kid: str) -> None:
        await self.session.execute(
            update(SigningKey).where(SigningKey.kid == kid).values(state="retired", retired_at=func.now())
        )

    async def activate(self, kid: str) -> None:
        await self.session.execute(
            update(SigningKey).where(SigningKey.kid == kid).values(state="active", activated_at=func.now())
        )

    async def delete(self, kid: str) -> None:
        await self.session.execute(delete(SigningKey).where(SigningKey.kid == kid))

    async def delete_retired_before(self, seconds_ago: float) -> list[str]:
        """Remove the retired keys whose tokens have all expired; their kids."""
        rows = await self.session.scalars(
            delete(SigningKey)
            .where(
                SigningKey.state == "retired",
                SigningKey.retired_at < func.now() - timedelta(seconds=seconds_ago),
            )
            .returning(SigningKey.kid)
        )
        return list(rows)

    async def rotation_due(self, days: float) -> bool:
        """Has the active key been active for `days` (as the database's clock says)?"""
        due = await self.session.scalar(
            select(func.count())
            .select_from(SigningKey)
            .where(SigningKey.state == "active", SigningKey.activated_at <= func.now() - timedelta(days=days))
        )
        return bool(due)
