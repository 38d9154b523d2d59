"""Sign-in, token refresh, sign-out and the list of sessions; and `SessionMinter`, the one way a
session and its token pair are made.

A capability that signs a user in by other means (the second step of mfa, passkeys, other providers)
checks its own secret, calls `Lockout.record_success`, then `SessionMinter.start(user, client, amr)`:
it gets the `TokenPair` the client receives (`sessions/cookies.py` delivers it in SPA cookie mode)
and the new session's id for its audit record. Services work in the request's session and never
commit; refusals go through the `Lockout` collaborator.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.errors import (
    AccountDisabled,
    AccountLocked,
    EmailNotVerified,
    InvalidCredentials,
    SecondStepRequired,
    TokenReused,
)
from shop.auth.lockout import Lockout
from shop.auth.metrics import LOGINS
from shop.auth.mfa import codes as mfa
from shop.auth.mfa.repository import MfaChallengeRepository
from shop.auth.models import Session, User
from shop.auth.repository import PasswordAccount, UserRepository
from shop.auth.sessions.repository import Rotation, SessionRepository, sign_in_parameters
from shop.auth.sessions.schemas import TokenPair, TokenUser
from shop.auth.tools import AuthTools, Client, audit, hash_token, new_token, seconds_until
from shop.core.conflicts import tally
from shop.core.errors import NotFound, ShopError, TokenExpired, TokenInvalid, TokenRevoked
from shop.core.logging import bind_user

logger = logging.getLogger("shop.auth")

# The authentication methods a session's tokens carry (`amr`, RFC 8176).
PASSWORD, PASSWORD_AND_OTP = ("pwd",), ("pwd", "otp")
MFA_TOKEN_TTL_SECONDS = 300


def _login_outcome(error: ShopError) -> str:
    return "locked" if isinstance(error, AccountLocked) else error.code


@dataclass(frozen=True, slots=True)
class Opening:
    """A session about to be opened: its refresh token, `amr`, lifetime, and the parameters of
    `SIGN_IN_WRITES`."""

    refresh: str
    amr: tuple[str, ...]
    ttl: int
    parameters: dict[str, object]


class SessionMinter:
    """Makes sessions and their token pairs (the public minting API of the sessions capability)."""

    def __init__(self, session: AsyncSession, tools: AuthTools) -> None:
        self.session = session
        self.tools = tools
        self.sessions = SessionRepository(session)

    async def start(
        self,
        user: User,
        client: Client,
        amr: Sequence[str] = PASSWORD,
        *,
        event: str,
        sign_in_time: bool = False,
        **details: object,
    ) -> tuple[TokenPair, uuid.UUID]:
        """A new session of `user` signed in by `amr`: its token pair and its id. The sign-in is
        audited as `event` (success, with `details` and the session's id) in the same statement;
        `sign_in_time`: the account's last sign-in is stamped there too (a sign-in whose lockout
        bookkeeping did not already)."""
        ttl, refresh = self._ttl(), new_token()
        session_id, _ = await self.sessions.open(
            user.id,
            ttl,
            client.user_agent,
            client.ip,
            amr=list(amr),
            token_hash=hash_token(refresh),
            event=event,
            details=details,
            sign_in_time=sign_in_time,
        )
        return await self.pair(user, session_id, refresh, amr=amr, refresh_expires_in=ttl), session_id

    def _ttl(self) -> int:
        settings = self.tools.settings
        return min(settings.refresh_token_ttl_seconds, settings.session_max_lifetime_seconds)

    def opening(
        self, client: Client, amr: Sequence[str], *, event: str, sign_in_time: bool, **details: object
    ) -> Opening:
        """What a sign-in's writes (`SIGN_IN_WRITES`) are given, for a capability whose own statement
        ends with them (its check and the session in one round trip); `finish` then makes the pair."""
        ttl, refresh = self._ttl(), new_token()
        parameters = sign_in_parameters(
            ttl,
            client.user_agent,
            client.ip,
            amr=list(amr),
            token_hash=hash_token(refresh),
            event=event,
            details=details,
            sign_in_time=sign_in_time,
        )
        return Opening(refresh, tuple(amr), ttl, parameters)

    async def finish(
        self, user: User | PasswordAccount | TokenUser, session_id: uuid.UUID, opening: Opening
    ) -> TokenPair:
        """The token pair of the session an `opening` made."""
        return await self.pair(
            user, session_id, opening.refresh, amr=opening.amr, refresh_expires_in=opening.ttl
        )

    async def pair(
        self,
        user: User | PasswordAccount | TokenUser,
        session_id: uuid.UUID,
        refresh: str,
        *,
        amr: Sequence[str],
        refresh_expires_in: int,
    ) -> TokenPair:
        """The token pair of an existing session: a new access token with `refresh`."""
        access = await self.tools.tokens.issue(self.session, user.id, session_id, amr=amr)
        if not isinstance(user, TokenUser):
            user = TokenUser(id=user.id, email=user.email, email_verified=user.email_verified)
        return TokenPair(
            access_token=access.token,
            refresh_token=refresh,
            expires_in=access.expires_in,
            refresh_expires_in=refresh_expires_in,
            user=user,
        ).of_session(session_id)


class SessionService:
    """Sign-in, token refresh, sign-out and the list of sessions."""

    def __init__(
        self, session: AsyncSession, tools: AuthTools, lockout: Lockout, minter: SessionMinter
    ) -> None:
        self.tools = tools
        self.settings = tools.settings
        self.lockout = lockout
        self.minter = minter
        self.users = UserRepository(session)
        self.sessions = SessionRepository(session)
        self.session = session

    async def login(self, email: str, password: str, client: Client) -> TokenPair:
        """A read of the account and, once the password is right, one statement: the lockout reset
        (`Lockout.record_success`'s, a lock that arrived meanwhile refusing it) and the new session.
        Both go to the driver, outside a transaction: the hash in between takes tens of ms."""
        try:
            user, new_hash = await self._check_password(email, password, client)
            await self._check_account(user, new_hash, client)
            # Nothing may fail for want of a key after the session is written (it commits by itself).
            await self.tools.tokens.ready(self.session)
            opening = self.minter.opening(client, PASSWORD, event="login", sign_in_time=False)
            session_id = await self.sessions.open_after_password(user.id, new_hash, opening.parameters)
            if session_id is None:
                await self.lockout.refuse_locked(user.id, client, "login")
        except ShopError as error:
            tally(LOGINS.labels(_login_outcome(error)).inc)
            raise
        pair = await self.minter.finish(user, session_id, opening)
        tally(LOGINS.labels("success").inc)
        bind_user(user.id)
        return pair

    async def _check_password(
        self, email: str, password: str, client: Client
    ) -> tuple[PasswordAccount, str | None]:
        user = await self.users.for_password_sign_in(email)
        if user is None:
            await self.tools.hasher.burn(password)
            await self.lockout.refuse(
                InvalidCredentials(), client, None, event="login", reason="unknown_email"
            )
        await self.lockout.refuse_if_locked(user, client, "login")
        if user.password_hash is None:
            # An account made by another provider: no password is right, and saying so takes the
            # time a wrong one does (and counts as one: the answer must not differ).
            await self.tools.hasher.burn(password)
            ok, new_hash = False, None
        else:
            ok, new_hash = await self.tools.hasher.verify(password, user.password_hash)
        if not ok:
            await self.lockout.count_failure(
                user.id, client, InvalidCredentials(), event="login", reason="wrong_password"
            )
        return user, new_hash

    async def _check_account(self, user: PasswordAccount, new_hash: str | None, client: Client) -> None:
        if not user.is_active:
            await self.lockout.refuse(
                AccountDisabled(), client, user.id, event="login", reason="account_disabled"
            )
        if not user.email_verified:
            await self.lockout.refuse(
                EmailNotVerified(), client, user.id, event="login", reason="email_not_verified"
            )
        if user.mfa_enabled:
            await self._second_step_required(user.id, new_hash, client)

    def opening_without_password(self, client: Client, amr: Sequence[str]) -> Opening:
        """The session another sign-in method (a provider) opens for an account it has proven, in its
        own statement (`SIGN_IN_WRITES`): audited as `login_{amr[0]}`, the account's last sign-in
        stamped there too. That statement opens it only for an active account without two-step
        sign-in; else `refuse_without_password` answers. The password's failure count is left alone."""
        return self.minter.opening(client, amr, event=f"login_{amr[0]}", sign_in_time=True)

    async def refuse_without_password(
        self, user_id: uuid.UUID, client: Client, amr: Sequence[str], *, is_active: bool, mfa_enabled: bool
    ) -> NoReturn:
        """Why no session was opened for a proven account: a disabled account is refused, one with
        two-step sign-in on answers `mfa_required` (its `mfa_token` remembers the first factor, so
        /mfa/verify's session carries `amr` of both)."""
        event = f"login_{amr[0]}"
        try:
            if not is_active:
                await self.lockout.refuse(
                    AccountDisabled(), client, user_id, event=event, reason="account_disabled"
                )
            if mfa_enabled:
                await self._second_step_required(user_id, None, client, first_factor=amr[0])
        except ShopError as error:
            tally(LOGINS.labels(_login_outcome(error)).inc)
            raise
        raise RuntimeError("a proven account without a session was neither disabled nor two-step")

    async def signed_in_without_password(
        self, user: TokenUser, session_id: uuid.UUID, opening: Opening
    ) -> TokenPair:
        """The token pair of the session `opening_without_password` made."""
        pair = await self.minter.finish(user, session_id, opening)
        tally(LOGINS.labels("success").inc)
        bind_user(user.id)
        return pair

    async def _second_step_required(
        self, user_id: uuid.UUID, new_hash: str | None, client: Client, *, first_factor: str = "pwd"
    ) -> NoReturn:
        """The password was right and two-step sign-in is on: no session yet, an mfa_token instead.
        Not yet a successful login: the failure count stays as it is until /mfa/verify completes."""
        token = new_token()
        async with self.lockout.refusal() as session:
            await MfaChallengeRepository(session).add(
                user_id, hash_token(token), client.ip, MFA_TOKEN_TTL_SECONDS, first_factor=first_factor
            )
            if new_hash is not None:
                await UserRepository(session).set_password(user_id, new_hash)
            await audit(session, "login", "mfa_required", client, user_id, first_factor=first_factor)
        raise SecondStepRequired(token, list(mfa.METHODS))

    async def refresh(
        self, refresh_token: str, client: Client, *, check: Callable[[uuid.UUID], None] | None = None
    ) -> TokenPair:
        """`check` sees the token's session first, before anything happens (cookie mode's CSRF
        check: a forged request must not even spend the token).

        A refresh that goes through is one statement (`rotate_refresh_token`); a refusal reads what
        it needs from that statement's answer and writes its own unit of work."""
        token_hash = hash_token(refresh_token)
        if check is not None:
            session_id = await self.sessions.session_of_refresh_token(token_hash)
            if session_id is None:
                raise TokenInvalid("The refresh token is unknown.")
            check(session_id)
        # The statement below commits by itself when the request's session is a one-statement one:
        # nothing after it may fail for want of a key.
        await self.tools.tokens.ready(self.session)
        new_refresh = new_token()
        rotation = await self.sessions.rotate_refresh_token(
            token_hash,
            hash_token(new_refresh),
            self.settings.refresh_token_ttl_seconds,
            self.settings.session_max_lifetime_seconds,
        )
        if rotation is None:
            raise TokenInvalid("The refresh token is unknown.")
        if rotation.expires_at is None:
            await self._refuse_refresh(rotation, token_hash, client)
        user = TokenUser(id=rotation.user_id, email=rotation.email, email_verified=rotation.email_verified)
        left = seconds_until(rotation.expires_at)
        return await self.minter.pair(
            user, rotation.session_id, new_refresh, amr=rotation.amr, refresh_expires_in=left
        )

    async def _refuse_refresh(self, rotation: Rotation, token_hash: bytes, client: Client) -> NoReturn:
        """Why the token was not spent, in the order the rules are checked."""
        if rotation.rotated_at is not None:
            # A spent token is a reuse every time it comes back, whatever became of its session.
            await self._reused(rotation.rotated_at, rotation, client)
        if rotation.revoked_at is not None or not rotation.is_active:
            raise TokenRevoked("The refresh token's session has been revoked; sign in again.")
        if not rotation.token_live:
            raise TokenExpired("The refresh token has expired; sign in again.")
        if not rotation.within_lifetime:
            raise TokenExpired("The session has reached its maximum lifetime; sign in again.")
        # Everything was in order, yet the token was spent: a concurrent request rotated it first, and
        # this use is a reuse like any other.
        rotated_at = await self.sessions.get_rotated_at(token_hash)
        await self._reused(rotated_at or datetime.now(UTC), rotation, client)

    async def _reused(self, rotated_at: datetime, rotation: Rotation, client: Client) -> NoReturn:
        """A spent refresh token came back. Within the grace period it is two tabs refreshing at once:
        refuse the loser, keep the session. Later it may be a stolen token: revoke the session."""
        session_id, user_id = rotation.session_id, rotation.user_id
        if rotation.revoked_at is not None:
            await self.lockout.refuse(
                TokenReused(), client, user_id, event="refresh_reuse", outcome="revoked_before"
            )
        age = (datetime.now(UTC) - rotated_at).total_seconds()
        if age <= self.settings.refresh_reuse_grace_seconds:
            await self.lockout.refuse(
                TokenReused(),
                client,
                user_id,
                event="refresh_reuse",
                outcome="grace",
                session_id=str(session_id),
            )
        async with self.lockout.refusal() as session:
            await SessionRepository(session).revoke(session_id, "refresh_reuse")
            await audit(session, "refresh_reuse", "revoked", client, user_id, session_id=str(session_id))
        logger.warning("refresh token reuse: session revoked", extra={"session_id": str(session_id)})
        raise TokenReused()

    async def session_of_refresh_token(self, refresh_token: str) -> uuid.UUID | None:
        return await self.sessions.session_of_refresh_token(hash_token(refresh_token))

    async def logout(self, user_id: uuid.UUID, session_id: uuid.UUID, client: Client) -> None:
        await self.sessions.revoke(session_id, "logout", user_id=user_id)
        await audit(self.session, "logout", "success", client, user_id, session_id=str(session_id))

    async def logout_all(self, user_id: uuid.UUID, client: Client) -> None:
        count = await self.sessions.revoke_all(user_id, "logout_all")
        await audit(self.session, "logout_all", "success", client, user_id, sessions=count)

    async def list_live(self, user_id: uuid.UUID) -> list[Session]:
        return await self.sessions.list_live(user_id)

    async def revoke(self, user_id: uuid.UUID, session_id: uuid.UUID, client: Client) -> None:
        if not await self.sessions.revoke(session_id, "revoked_by_user", user_id=user_id):
            raise NotFound("No such session.")
        await audit(self.session, "session_revoke", "success", client, user_id, session_id=str(session_id))
