"""Sessions with their refresh tokens, and the bearer guard's read of a live session's account."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    Integer,
    LargeBinary,
    String,
    Uuid,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import (
    RefreshToken,
    Session,
    User,
)
from shop.auth.repository import SUCCESSFUL_SIGN_IN, SUCCESSFUL_SIGN_IN_PARAMETERS
from shop.core.db import HotRead, HotStatement

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

# A whole token refresh in one statement (one round trip): the token with its session and account as
# they are, and — only when the token is unspent and live, its session neither revoked nor past its
# maximum lifetime and its account active — the token spent, the session's end moved ahead (never past
# its creation plus the maximum lifetime) and the new token added, expiring with it. The liveness is
# judged by the database's clock and answered, so the caller tells a refusal from a lost race without
# a clock of its own. The claim re-checks `rotated_at IS NULL` on the row it locks: of two concurrent
# refreshes of one token, exactly one spends it.
_ROTATE_REFRESH_TOKEN = text(
    """
WITH found AS (
    SELECT t.token_hash, t.session_id, t.rotated_at, t.expires_at > now() AS token_live,
           s.user_id, s.revoked_at, s.amr,
           s.created_at > now() - :max_age * interval '1 second' AS within_lifetime,
           u.email, u.email_verified, u.is_active
    FROM auth.refresh_tokens AS t
    JOIN auth.sessions AS s ON s.id = t.session_id
    JOIN auth.users AS u ON u.id = s.user_id
    WHERE t.token_hash = :hash
),
claimed AS (
    UPDATE auth.refresh_tokens AS t SET rotated_at = now()
    FROM found AS f
    WHERE t.token_hash = f.token_hash AND t.rotated_at IS NULL
      AND f.rotated_at IS NULL AND f.revoked_at IS NULL AND f.token_live AND f.within_lifetime
      AND f.is_active
    RETURNING t.session_id
),
extended AS (
    UPDATE auth.sessions AS s
    SET last_used_at = now(),
        expires_at = least(now() + :ttl * interval '1 second', s.created_at + :max_age * interval '1 second')
    FROM claimed AS c
    WHERE s.id = c.session_id
    RETURNING s.id, s.expires_at
),
issued AS (
    INSERT INTO auth.refresh_tokens (token_hash, session_id, expires_at)
    SELECT :new_hash, id, expires_at FROM extended
    RETURNING expires_at
)
SELECT f.session_id, f.user_id, f.rotated_at, f.revoked_at, f.token_live, f.within_lifetime, f.amr,
       f.email, f.email_verified, f.is_active, (SELECT expires_at FROM issued) AS expires_at
FROM found AS f
"""
).bindparams(
    bindparam("hash", type_=LargeBinary),
    bindparam("new_hash", type_=LargeBinary),
    bindparam("ttl", type_=Integer),
    bindparam("max_age", type_=Integer),
)
# A sign-in's writes, as common table expressions another statement ends with (one round trip): the
# session of the account in the one row of the CTE `signing_in` (its `user_id`; no row, no writes), its
# first refresh token (expiring with it), the audit record of the sign-in naming the session, and —
# for a sign-in the password's lockout does not record (`:sign_in_time`) — the account's last sign-in.
# The statement answers from `new_session` (id, user_id, expires_at).
SIGN_IN_WRITES = """
new_session AS (
    INSERT INTO auth.sessions (user_id, expires_at, user_agent, ip, amr)
    SELECT user_id, now() + :ttl * interval '1 second', :user_agent, :ip, :amr FROM signing_in
    RETURNING id, user_id, expires_at
),
new_token AS (
    INSERT INTO auth.refresh_tokens (token_hash, session_id, expires_at)
    SELECT :token_hash, id, expires_at FROM new_session
),
audited AS (
    INSERT INTO auth.audit_events (event, outcome, user_id, ip, user_agent, details)
    SELECT :event, 'success', user_id, :ip, :user_agent,
           :details || jsonb_build_object('session_id', CAST(id AS text))
    FROM new_session
),
signed_in AS (
    UPDATE auth.users AS u SET last_login_at = now(), updated_at = now()
    FROM new_session AS n
    WHERE u.id = n.user_id AND :sign_in_time
)"""
SIGN_IN_PARAMETERS = (
    bindparam("ttl", type_=Integer),
    bindparam("user_agent", type_=String),
    bindparam("ip", type_=INET),
    bindparam("amr", type_=ARRAY(String)),
    bindparam("token_hash", type_=LargeBinary),
    bindparam("event", type_=String),
    bindparam("details", type_=JSONB),
    bindparam("sign_in_time", type_=Boolean),
)


def sign_in_parameters(
    ttl_seconds: int,
    user_agent: str | None,
    ip: str | None,
    *,
    amr: list[str],
    token_hash: bytes,
    event: str,
    details: Mapping[str, object],
    sign_in_time: bool,
) -> dict[str, object]:
    """The parameters of `SIGN_IN_WRITES`."""
    return {
        "ttl": ttl_seconds,
        "user_agent": user_agent,
        "ip": ip,
        "amr": amr,
        "token_hash": token_hash,
        "event": event,
        "details": dict(details),
        "sign_in_time": sign_in_time,
    }


_OPEN_SESSION = text(
    f"""
WITH signing_in AS (SELECT CAST(:user_id AS uuid) AS user_id),
{SIGN_IN_WRITES}
SELECT id, expires_at FROM new_session
"""  # noqa: S608 - joined of this module's constants, no input
).bindparams(bindparam("user_id", type_=Uuid), *SIGN_IN_PARAMETERS)
# A password sign-in's one write, on the driver (`HotStatement`): its account's lockout reset
# (`SUCCESSFUL_SIGN_IN`, unless a lock arrived meanwhile) and the new session, which only that reset
# opens. It answers the session's id, or NULL with nothing written.
_SIGN_IN_WITH_PASSWORD = HotStatement(
    text(
        f"""
WITH signing_in AS ({SUCCESSFUL_SIGN_IN}),
{SIGN_IN_WRITES}
SELECT (SELECT id FROM new_session) AS id
"""  # noqa: S608 - joined of constants, no input
    ).bindparams(*SUCCESSFUL_SIGN_IN_PARAMETERS, *SIGN_IN_PARAMETERS)
)
_SESSION_OF_REFRESH_TOKEN = select(RefreshToken.session_id).where(
    RefreshToken.token_hash == bindparam("hash")
)


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate_refresh_token` found and did. `expires_at` is the new token's (and its session's)
    end when the token was spent and replaced, None when it was not (the other fields say why)."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    rotated_at: datetime | None
    revoked_at: datetime | None
    token_live: bool
    within_lifetime: bool
    amr: list[str]
    email: str
    email_verified: bool
    is_active: bool
    expires_at: datetime | None


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

    async def open(
        self,
        user_id: uuid.UUID,
        ttl_seconds: int,
        user_agent: str | None,
        ip: str | None,
        *,
        amr: list[str],
        token_hash: bytes,
        event: str,
        details: Mapping[str, object],
        sign_in_time: bool,
    ) -> tuple[uuid.UUID, datetime]:
        """A signed-in session with its refresh token `token_hash`, and the sign-in's audit record
        (`event`, success, `details` and the session's id): its id and end. `sign_in_time`: also
        stamp the account's last sign-in. One statement (`_OPEN_SESSION`)."""
        params = sign_in_parameters(
            ttl_seconds,
            user_agent,
            ip,
            amr=amr,
            token_hash=token_hash,
            event=event,
            details=details,
            sign_in_time=sign_in_time,
        )
        row = (await self.session.execute(_OPEN_SESSION, {**params, "user_id": user_id})).one()
        return row[0], row[1]

    async def open_after_password(
        self, user_id: uuid.UUID, new_hash: str | None, opening: Mapping[str, object]
    ) -> uuid.UUID | None:
        """A password sign-in's writes in one statement: the account's lockout reset and its new
        session (`opening`: the parameters of `SIGN_IN_WRITES`, without the sign-in time, which the
        reset stamps). The session's id; None, and nothing written, when a lock arrived meanwhile."""
        row = await _SIGN_IN_WITH_PASSWORD.first(
            self.session, {**opening, "user_id": user_id, "new_hash": new_hash}
        )
        return None if row is None else row["id"]

    async def rotate_refresh_token(
        self, token_hash: bytes, new_hash: bytes, ttl_seconds: int, max_lifetime_seconds: int
    ) -> Rotation | None:
        """Spend a live refresh token and add its successor `new_hash` (see `_ROTATE_REFRESH_TOKEN`),
        in one statement; None for an unknown token."""
        params = {
            "hash": token_hash,
            "new_hash": new_hash,
            "ttl": ttl_seconds,
            "max_age": max_lifetime_seconds,
        }
        row = (await self.session.execute(_ROTATE_REFRESH_TOKEN, params)).mappings().first()
        return Rotation(**row) if row is not None else None

    async def session_of_refresh_token(self, token_hash: bytes) -> uuid.UUID | None:
        return await self.session.scalar(_SESSION_OF_REFRESH_TOKEN, {"hash": token_hash})

    async def get_rotated_at(self, token_hash: bytes) -> datetime | None:
        return await self.session.scalar(
            select(RefreshToken.rotated_at).where(RefreshToken.token_hash == token_hash)
        )

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
