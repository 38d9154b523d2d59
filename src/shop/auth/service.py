"""The rules of the auth context, in two services built per request (see `dependencies.py`):
`SessionService` signs in and keeps sessions, `AccountService` looks after the account itself.

Services work in the request's session and never commit. A refusal whose record must outlast the
request — a failed-login count, a reuse that revokes a session, an audit row — is written in its own
short unit of work (`_refusal()`) just before the error is raised; the error itself writes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth import mfa, public
from shop.auth.errors import (
    AccountDisabled,
    AccountLocked,
    EmailNotVerified,
    EmailTaken,
    EmailTokenInvalid,
    InvalidCode,
    InvalidCredentials,
    InvalidCurrentPassword,
    InvalidSecondStep,
    KeyRotationUnavailable,
    LastAdmin,
    MfaEnabled,
    SecondStepRequired,
    SigningKeysSealedElsewhere,
    TokenReused,
)
from shop.auth.metrics import LOCKOUTS, LOGINS, MFA_CHANGES, MFA_VERIFICATIONS
from shop.auth.models import Session, SigningKey, User
from shop.auth.passwords import PasswordHasher, password_problem
from shop.auth.reauth import Reauthentication
from shop.auth.repository import (
    AuditRepository,
    EmailLinkRequestRepository,
    EmailTokenRepository,
    MfaChallengeRepository,
    RecoveryCodeRepository,
    SessionRepository,
    SigningKeyRepository,
    TotpFactorRepository,
    UserRepository,
)
from shop.auth.schemas import TokenPair, TokenUser, TotpSetupResponse
from shop.auth.tokens import AccessTokens, NewKey, is_asymmetric, key_box, new_key, retired_key_lifetime
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.errors import InvalidInput, NotFound, ShopError, TokenExpired, TokenInvalid, TokenRevoked
from shop.core.events import EventBus
from shop.core.logging import bind_user
from shop.core.mail.delivery import forget_saved_mail
from shop.core.mail.outbox import enqueue, erase_recipient
from shop.core.mail.templates import MailTemplates
from shop.core.ratelimit import RateLimiter
from shop.core.secretbox import SecretBoxError
from shop.localization import public as localization
from shop.users import public as users

logger = logging.getLogger("shop.auth")

VERIFY, RESET = "verify", "reset"
PASSWORD, PASSWORD_AND_OTP = ("pwd",), ("pwd", "otp")
MFA_TOKEN_TTL_SECONDS = 300
# After this many wrong codes an mfa_token is spent (the account's lockout counts them too).
MFA_TOKEN_MAX_ATTEMPTS = 5
# An unknown mfa_token still costs one code check, as a wrong code does.
_DECOY_SECRET = mfa.new_secret()
MAILS = MailTemplates(Path(__file__).parent / "templates", fallback_language=localization.DEFAULT_LANGUAGE)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def seconds_until(moment: datetime) -> int:
    return max(1, math.ceil((moment - datetime.now(UTC)).total_seconds()))


@dataclass(frozen=True, slots=True)
class Client:
    """Who is on the other end, for sessions and the audit log."""

    ip: str | None
    user_agent: str | None
    accept_language: str | None = None


@dataclass(frozen=True, slots=True)
class AuthTools:
    """The per-app collaborators of the auth services, built once by `shop.bootstrap`."""

    settings: Settings
    hasher: PasswordHasher
    tokens: AccessTokens
    limiter: RateLimiter
    events: EventBus
    mfa_keys: mfa.MfaKeys
    # What TOTP codes are checked against: the time (a test moves its own clock).
    clock: Callable[[], float]


async def audit(
    session: AsyncSession,
    event: str,
    outcome: str,
    client: Client,
    user_id: uuid.UUID | None,
    **details: object,
) -> None:
    await AuditRepository(session).add(
        event,
        outcome,
        user_id=user_id,
        ip=client.ip,
        user_agent=client.user_agent,
        details=dict(details) or None,
    )


class _AuthService:
    def __init__(self, session: AsyncSession, database: Database, tools: AuthTools) -> None:
        self.session = session
        self.database = database
        self.tools = tools
        self.settings = tools.settings
        self.users = UserRepository(session)
        self.sessions = SessionRepository(session)
        self.email_tokens = EmailTokenRepository(session)
        self.link_requests = EmailLinkRequestRepository(session)
        self.challenges = MfaChallengeRepository(session)

    async def _audit(
        self, event: str, outcome: str, client: Client, user_id: uuid.UUID | None, **details: object
    ) -> None:
        await audit(self.session, event, outcome, client, user_id, **details)

    @asynccontextmanager
    async def _refusal(self) -> AsyncIterator[AsyncSession]:
        """The unit of work of a refusal that must persist. The request's own changes are void (it
        fails): they are rolled back first, so the refusal never waits on a lock the request holds."""
        await self.session.rollback()
        async with self.database.unit_of_work() as session:
            yield session

    async def _refuse(
        self,
        error: ShopError,
        client: Client,
        user_id: uuid.UUID | None,
        *,
        event: str,
        outcome: str = "failure",
        **details: object,
    ) -> NoReturn:
        """Audit the refusal in its own unit of work, then raise it."""
        async with self._refusal() as session:
            await audit(session, event, outcome, client, user_id, **details)
        raise error

    async def _existing(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound("The account does not exist.")
        return user

    def _check_new_password(self, password: str, email: str | None, field: str) -> None:
        problem = password_problem(password, email, self.settings.password_min_length)
        if problem is not None:
            raise InvalidInput(["body", field], problem)

    async def _confirm_password(self, user: User, password: str, client: Client, event: str) -> None:
        """Re-authentication before a sensitive change. A wrong password counts as a failed login (the
        5th locks the account), and a locked account is refused here too; limited per account with the
        login budget as well, so a stolen session cannot guess the password it would need."""
        await self._refuse_if_locked(user, client, event)
        await self.tools.limiter.hit(self.settings.rate_limit_login, "reauthenticate", str(user.id))
        ok = False
        if user.password_hash is not None:
            ok, _ = await self.tools.hasher.verify(password, user.password_hash)
        if not ok:
            await self._count_failure(
                user.id, client, InvalidCurrentPassword(), event=event, reason="wrong_password"
            )

    @property
    def reauthentication(self) -> Reauthentication:
        """The re-authentication every endpoint that asks for the password goes through."""
        return Reauthentication(self.sessions, self.settings.reauth_max_age_seconds, self._confirm_password)

    async def _reauthenticate(
        self,
        user: User,
        password: str | None,
        session_id: uuid.UUID,
        client: Client,
        event: str,
        *,
        field: str = "password",
        needs_password: bool = False,
    ) -> None:
        """The password, or for an account without one a recent sign-in (`shop.auth.reauth`)."""
        await self.reauthentication.confirm(
            user, password, session_id, client, event, field=field, needs_password=needs_password
        )

    async def _refuse_if_locked(self, user: User, client: Client, event: str) -> None:
        if user.locked_until is not None and user.locked_until > datetime.now(UTC):
            await self._refuse(
                AccountLocked(seconds_until(user.locked_until)),
                client,
                user.id,
                event=event,
                outcome="locked",
            )

    async def _count_failure(
        self,
        user_id: uuid.UUID,
        client: Client,
        error: ShopError,
        *,
        event: str,
        reason: str,
        challenge: bytes | None = None,
    ) -> NoReturn:
        """A wrong current password or a wrong code: counted as a failed login in the refusal's own
        unit of work. The failure that reaches the threshold locks the account and answers 423 at once;
        so does an account locked meanwhile (where the failure does not count). `challenge`: also
        count it against that mfa_token, which the 5th wrong code spends."""
        async with self._refusal() as session:
            users = UserRepository(session)
            if challenge is not None:
                await MfaChallengeRepository(session).record_failure(challenge, MFA_TOKEN_MAX_ATTEMPTS)
            counted, locked_until = await users.record_failed_login(
                user_id,
                threshold=self.settings.lockout_threshold,
                base_seconds=self.settings.lockout_base_seconds,
                max_seconds=self.settings.lockout_max_seconds,
            )
            if not counted:
                locked_until = await users.get_locked_until(user_id)
                await audit(session, event, "locked", client, user_id, reason=reason)
            elif locked_until is not None:
                until = locked_until.isoformat()
                await audit(session, "lockout", "locked", client, user_id, until=until, by=event)
            else:
                await audit(session, event, "failure", client, user_id, reason=reason)
        if counted and locked_until is not None:
            LOCKOUTS.inc()
        if locked_until is not None:
            raise AccountLocked(seconds_until(locked_until))
        raise error

    async def _start_session(
        self, user: User, client: Client, amr: Sequence[str] = PASSWORD
    ) -> tuple[TokenPair, uuid.UUID]:
        ttl = min(self.settings.refresh_token_ttl_seconds, self.settings.session_max_lifetime_seconds)
        login = await self.sessions.add(user.id, ttl, client.user_agent, client.ip, amr=list(amr))
        refresh = new_token()
        await self.sessions.add_refresh_token(login.id, hash_token(refresh), login.expires_at)
        return await self._pair(user, login.id, refresh, amr=amr, refresh_expires_in=ttl), login.id

    async def _pair(
        self, user: User, session_id: uuid.UUID, refresh: str, *, amr: Sequence[str], refresh_expires_in: int
    ) -> TokenPair:
        access = await self.tools.tokens.issue(self.session, user.id, session_id, amr=amr)
        return TokenPair(
            access_token=access.token,
            refresh_token=refresh,
            expires_in=access.expires_in,
            refresh_expires_in=refresh_expires_in,
            user=TokenUser(id=user.id, email=user.email, email_verified=user.email_verified),
        )


class SessionService(_AuthService):
    """Sign-in, token refresh, sign-out and the list of sessions."""

    async def login(self, email: str, password: str, client: Client) -> TokenPair:
        user = await self.users.get_by_email(email)
        if user is None:
            await self.tools.hasher.burn(password)
            await self._refuse_login(InvalidCredentials(), client, None, reason="unknown_email")
        user_id = user.id
        if user.locked_until is not None and user.locked_until > datetime.now(UTC):
            await self._locked(user_id, client, user.locked_until)
        if user.password_hash is None:
            # An account made by another provider: no password is right, and saying so takes the
            # time a wrong one does (and counts as one: the answer must not differ).
            await self.tools.hasher.burn(password)
            ok, new_hash = False, None
        else:
            ok, new_hash = await self.tools.hasher.verify(password, user.password_hash)
        if not ok:
            await self._failed_login(user_id, client)
        if not user.is_active:
            await self._refuse_login(AccountDisabled(), client, user_id, reason="account_disabled")
        if not user.email_verified:
            await self._refuse_login(EmailNotVerified(), client, user_id, reason="email_not_verified")
        if user.mfa_enabled:
            await self._second_step_required(user_id, new_hash, client)
        if not await self.users.record_successful_login(user_id, new_hash):
            # Locked by concurrent failures while the password was being checked.
            await self._locked(user_id, client)
        pair, session_id = await self._start_session(user, client)
        LOGINS.labels("success").inc()
        bind_user(user.id)
        await self._audit("login", "success", client, user_id, session_id=str(session_id))
        return pair

    async def _second_step_required(
        self, user_id: uuid.UUID, new_hash: str | None, client: Client, *, first_factor: str = "pwd"
    ) -> NoReturn:
        """The password was right and two-step sign-in is on: no session yet, an mfa_token instead.
        Not yet a successful login: the failure count stays as it is until /mfa/verify completes."""
        token = mfa.new_mfa_token()
        async with self._refusal() as session:
            await MfaChallengeRepository(session).add(
                user_id,
                mfa.hash_mfa_token(token),
                client.ip,
                MFA_TOKEN_TTL_SECONDS,
                first_factor=first_factor,
            )
            if new_hash is not None:
                await UserRepository(session).set_password(user_id, new_hash, unlock=False)
            await audit(session, "login", "mfa_required", client, user_id, first_factor=first_factor)
        LOGINS.labels("mfa_required").inc()
        raise SecondStepRequired(token, list(mfa.METHODS))

    async def sign_in_without_password(self, user: User, client: Client, amr: Sequence[str]) -> TokenPair:
        """The one way another sign-in method (a provider) opens a session for an account it has
        proven: a disabled account is refused, one with two-step sign-in on answers `mfa_required`
        (its `mfa_token` remembers the first factor, so /mfa/verify's session carries `amr` of both),
        else a new session whose tokens carry `amr`. The password's failure count is left alone."""
        event = f"login_{amr[0]}"
        if not user.is_active:
            LOGINS.labels("account_disabled").inc()
            await self._refuse(AccountDisabled(), client, user.id, event=event, reason="account_disabled")
        if user.mfa_enabled:
            await self._second_step_required(user.id, None, client, first_factor=amr[0])
        await self.users.record_sign_in(user.id)
        pair, session_id = await self._start_session(user, client, amr)
        LOGINS.labels("success").inc()
        bind_user(user.id)
        await self._audit(event, "success", client, user.id, session_id=str(session_id))
        return pair

    async def _refuse_login(
        self, error: ShopError, client: Client, user_id: uuid.UUID | None, *, reason: str
    ) -> NoReturn:
        LOGINS.labels(error.code).inc()
        await self._refuse(error, client, user_id, event="login", reason=reason)

    async def _locked(self, user_id: uuid.UUID, client: Client, until: datetime | None = None) -> NoReturn:
        """423 for an account locked before or during this attempt; the attempt does not count.

        Without `until`, the lock is read afresh: a concurrent request may just have set it."""
        async with self._refusal() as session:
            until = until or await UserRepository(session).get_locked_until(user_id) or datetime.now(UTC)
            await audit(session, "login", "locked", client, user_id)
        LOGINS.labels("locked").inc()
        raise AccountLocked(seconds_until(until))

    async def _failed_login(self, user_id: uuid.UUID, client: Client) -> NoReturn:
        """Count the failure (and lock at the threshold) in the refusal's own unit of work."""
        async with self._refusal() as session:
            counted, locked_until = await UserRepository(session).record_failed_login(
                user_id,
                threshold=self.settings.lockout_threshold,
                base_seconds=self.settings.lockout_base_seconds,
                max_seconds=self.settings.lockout_max_seconds,
            )
            if counted and locked_until is not None:
                until = locked_until.isoformat()
                await audit(session, "lockout", "locked", client, user_id, until=until)
            elif counted:
                await audit(session, "login", "failure", client, user_id, reason="wrong_password")
        if not counted:
            await self._locked(user_id, client)  # locked meanwhile: this failure does not count
        if locked_until is not None:
            LOCKOUTS.inc()
            LOGINS.labels("locked").inc()
            raise AccountLocked(seconds_until(locked_until))
        LOGINS.labels("invalid_credentials").inc()
        raise InvalidCredentials()

    async def refresh(self, refresh_token: str, client: Client) -> TokenPair:
        token_hash = hash_token(refresh_token)
        found = await self.sessions.get_by_refresh_token(token_hash)
        if found is None:
            raise TokenInvalid("The refresh token is unknown.")
        token, login, user = found
        if token.rotated_at is not None:
            # A spent token is a reuse every time it comes back, whatever became of its session.
            if login.revoked_at is not None:
                await self._refuse(
                    TokenReused(), client, login.user_id, event="refresh_reuse", outcome="revoked_before"
                )
            await self._reused(token.rotated_at, login.id, login.user_id, client)
        if login.revoked_at is not None:
            raise TokenRevoked("The refresh token's session has been revoked; sign in again.")
        now = datetime.now(UTC)
        if token.expires_at <= now:
            raise TokenExpired("The refresh token has expired; sign in again.")
        max_lifetime = self.settings.session_max_lifetime_seconds
        if login.created_at + timedelta(seconds=max_lifetime) <= now:
            raise TokenExpired("The session has reached its maximum lifetime; sign in again.")
        if not await self.sessions.claim_refresh_token(token_hash):
            # A concurrent request rotated it first: this use is a reuse like any other.
            rotated_at = await self.sessions.get_rotated_at(token_hash)
            await self._reused(rotated_at or datetime.now(UTC), login.id, login.user_id, client)
        if not user.is_active:
            raise TokenRevoked("The refresh token's session has been revoked; sign in again.")
        new_refresh = new_token()
        # Each refresh moves the session's end ahead, but never past its login plus the maximum.
        expires_at = await self.sessions.extend(
            login.id, self.settings.refresh_token_ttl_seconds, max_lifetime, hash_token(new_refresh)
        )
        left = seconds_until(expires_at)
        return await self._pair(user, login.id, new_refresh, amr=login.amr, refresh_expires_in=left)

    async def _reused(
        self, rotated_at: datetime, session_id: uuid.UUID, user_id: uuid.UUID, client: Client
    ) -> NoReturn:
        """A spent refresh token came back. Within the grace period it is two tabs refreshing at once:
        refuse the loser, keep the session. Later it may be a stolen token: revoke the session."""
        age = (datetime.now(UTC) - rotated_at).total_seconds()
        if age <= self.settings.refresh_reuse_grace_seconds:
            await self._refuse(
                TokenReused(),
                client,
                user_id,
                event="refresh_reuse",
                outcome="grace",
                session_id=str(session_id),
            )
        async with self._refusal() as session:
            await SessionRepository(session).revoke(session_id, "refresh_reuse")
            await audit(session, "refresh_reuse", "revoked", client, user_id, session_id=str(session_id))
        logger.warning("refresh token reuse: session revoked", extra={"session_id": str(session_id)})
        raise TokenReused()

    async def logout(self, user_id: uuid.UUID, session_id: uuid.UUID, client: Client) -> None:
        await self.sessions.revoke(session_id, "logout", user_id=user_id)
        await self._audit("logout", "success", client, user_id, session_id=str(session_id))

    async def logout_all(self, user_id: uuid.UUID, client: Client) -> None:
        count = await self.sessions.revoke_all(user_id, "logout_all")
        await self._audit("logout_all", "success", client, user_id, sessions=count)

    async def list_live(self, user_id: uuid.UUID) -> list[Session]:
        return await self.sessions.list_live(user_id)

    async def revoke(self, user_id: uuid.UUID, session_id: uuid.UUID, client: Client) -> None:
        if not await self.sessions.revoke(session_id, "revoked_by_user", user_id=user_id):
            raise NotFound("No such session.")
        await self._audit("session_revoke", "success", client, user_id, session_id=str(session_id))


class AccountService(_AuthService):
    """Registration, email verification, passwords, the account itself and its administration."""

    async def _send_email_token(self, user: User, purpose: str) -> None:
        token = new_token()
        verify = purpose == VERIFY
        ttl = self.settings.verify_token_ttl_seconds if verify else self.settings.reset_token_ttl_seconds
        await self.email_tokens.add(user.id, purpose, hash_token(token), ttl)
        language = await users.preferred_language(self.session, user.id)
        base = self.settings.public_url.rstrip("/")
        if verify:
            link, duration = f"{base}/verify-email?token={token}", {"hours": str(ttl // 3600)}
        else:
            link, duration = f"{base}/reset-password?token={token}", {"minutes": str(ttl // 60)}
        mail = MAILS.render("verify_email" if verify else "reset_password", language, link=link, **duration)
        await enqueue(self.session, user.email, mail)

    async def _limit_email(self, scope: str, email: str) -> None:
        await self.tools.limiter.hit(self.settings.rate_limit_email, f"{scope}:email", email)

    async def _add_user(self, email: str, password: str, *, role: str, verified: bool) -> uuid.UUID:
        user_id = await self.users.add(
            email, await self.tools.hasher.hash(password), role=role, verified=verified
        )
        if user_id is None:
            raise EmailTaken()
        return user_id

    # -- registration and verification ------------------------------------------------------

    async def register(self, email: str, password: str, client: Client) -> uuid.UUID:
        self._check_new_password(password, email, "password")
        user_id = await self._add_user(email, password, role="customer", verified=False)
        await self.tools.events.publish(self.session, public.UserRegistered(user_id, client.accept_language))
        await self._send_email_token(await self._existing(user_id), VERIFY)
        await self._audit("register", "success", client, user_id)
        return user_id

    async def verify_email(self, token: str, client: Client) -> None:
        user_id = await self.email_tokens.use(hash_token(token), VERIFY)
        if user_id is None:
            raise EmailTokenInvalid()
        await self.users.set_email_verified(user_id)
        await self._audit("verify_email", "success", client, user_id)

    async def email_link_state(self, token: str, purpose: str) -> str:
        """What a mailed link's token is now (`valid`, `used`, `expired`, `unknown`), without spending it."""
        return await self.email_tokens.get_state(hash_token(token), purpose)

    async def resend_verification(self, email: str, client: Client) -> None:
        """Only records the ask, for any email: the answer must not tell (not even by its time)
        whether the account exists. `fulfil_link_requests` mails the link moments later."""
        await self._limit_email("resend-verification", email)
        await self.link_requests.add(email, VERIFY, client.ip, client.user_agent)

    async def fulfil_link_requests(self, limit: int = 20) -> int:
        """Fulfil waiting asks for links (in the upkeep's unit of work): a token and a mail when the
        account exists and may have one, nothing otherwise. Returns how many asks were taken.

        Asks for the same link to the same address that wait together send one mail: a user who
        clicks "resend" five times gets one link, and a flood of asks for one address costs the
        upkeep one mail, not one per ask (work whose time the asking requests would otherwise feel,
        for known addresses only)."""
        requests = await self.link_requests.take(limit)
        seen: set[tuple[str, str]] = set()
        for request in requests:
            if (request.email, request.purpose) in seen:
                continue
            seen.add((request.email, request.purpose))
            await self.link_requests.delete_for(request.email, request.purpose)  # those still waiting
            user = await self.users.get_by_email(request.email)
            client = Client(
                ip=str(request.ip) if request.ip is not None else None, user_agent=request.user_agent
            )
            if request.purpose == VERIFY:
                if user is not None and not user.email_verified and user.is_active:
                    await self._send_email_token(user, VERIFY)
                    await self._audit("resend_verification", "success", client, user.id)
            elif user is not None and user.is_active:
                await self._send_email_token(user, RESET)
                await self._audit("password_reset_request", "success", client, user.id)
        return len(requests)

    # -- passwords --------------------------------------------------------------------------

    async def request_password_reset(self, email: str, client: Client) -> None:
        """Only records the ask, as `resend_verification` does."""
        await self._limit_email("password-reset-request", email)
        await self.link_requests.add(email, RESET, client.ip, client.user_agent)

    async def reset_password(self, token: str, password: str, client: Client) -> None:
        user_id = await self.email_tokens.use(hash_token(token), RESET)
        if user_id is None:
            raise EmailTokenInvalid()
        user = await self.users.get(user_id)
        if user is None:  # pragma: no cover - tokens cascade with their user
            raise EmailTokenInvalid()
        self._check_new_password(password, user.email, "password")
        await self.users.set_password(user_id, await self.tools.hasher.hash(password), unlock=True)
        # Every other reset link of the user dies with this one (one may sit in a stolen mailbox).
        await self.email_tokens.spend_all(user_id, RESET)
        await self.link_requests.delete_for(user.email, RESET)
        # Two-step sign-in stays on: a mailbox alone must not be enough to take over the account.
        await self.challenges.spend_all(user_id)
        # The mail reached its owner: the address is proven.
        await self.users.set_email_verified(user_id)
        count = await self.sessions.revoke_all(user_id, "password_reset")
        await self._audit("password_reset", "success", client, user_id, sessions_revoked=count)

    async def change_password(
        self, user_id: uuid.UUID, session_id: uuid.UUID, current: str, new: str, client: Client
    ) -> None:
        user = await self._existing(user_id)
        await self._reauthenticate(
            user,
            current,
            session_id,
            client,
            "password_change",
            field="current_password",
            needs_password=True,
        )
        self._check_new_password(new, user.email, "new_password")
        await self.users.set_password(user_id, await self.tools.hasher.hash(new), unlock=True)
        # A reset link mailed (or asked for) before the change must not undo it.
        await self.email_tokens.spend_all(user_id, RESET)
        await self.link_requests.delete_for(user.email, RESET)
        await self.challenges.spend_all(user_id)
        count = await self.sessions.revoke_all(user_id, "password_change", keep=session_id)
        await self._audit("password_change", "success", client, user_id, sessions_revoked=count)

    # -- the account ------------------------------------------------------------------------

    async def delete(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, client: Client
    ) -> None:
        """Erase the account: nothing left names the user (email, names, phone, addresses, IPs).
        Locks in the one order of every change to an account — its row, then the admins' lock — so
        no such change waits the other way (the request holds nothing before: `UnheldUser`)."""
        user = await self._existing(user_id)
        await self._reauthenticate(user, password, session_id, client, "account_delete")
        await self._lock_for_deletion(user_id, session_id)
        await self._keep_an_admin(user_id)
        await self.tools.events.publish(self.session, public.AccountDeleted(user_id))
        mail_ids = await erase_recipient(self.session, user.email)
        await self.link_requests.delete_for(user.email)
        audit_log = AuditRepository(self.session)
        await audit_log.scrub(user_id)
        await self.users.delete(user_id)  # sessions, tokens, challenges and factors go with it
        # The trail keeps who and what happened when, nothing more.
        await audit_log.add("account_delete", "success", user_id=user_id, ip=None, user_agent=None)
        forget_saved_mail(self.settings, mail_ids)

    async def _lock_for_deletion(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        """Wait for the user's writing requests to end (and keep new ones out). Of two deletions
        at once the second waits here, then finds the account gone: its session ended with it.
        Checked again once locked (a new statement sees what committed meanwhile): a session revoked
        or an account deactivated while the password was checked deletes nothing either."""
        max_lifetime = self.settings.session_max_lifetime_seconds
        if not await self.users.lock_for_deletion(user_id) or (
            await self.sessions.get_live_account(user_id, session_id, max_lifetime) is None
        ):
            raise TokenRevoked()

    # -- administration ---------------------------------------------------------------------

    async def list_newest(self, email: str | None) -> list[User]:
        return await self.users.list_newest(email, limit=50)

    async def admin_update(
        self, admin_id: uuid.UUID, user_id: uuid.UUID, changes: dict[str, object], client: Client
    ) -> User:
        if changes.get("is_active") is False or changes.get("role", "admin") != "admin":
            # The row first, then the admins' lock: the order a deletion takes them in too.
            await self.users.lock_for_update(user_id)
            await self._keep_an_admin(user_id)
        user = await self.users.update(user_id, changes) if changes else await self.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        if changes.get("is_active") is False:
            await self.sessions.revoke_all(user_id, "deactivated")
        await self._audit("admin_update_user", "success", client, user_id, by=str(admin_id), **changes)
        return user

    async def _keep_an_admin(self, user_id: uuid.UUID) -> None:
        """Refuse a change that would leave no active admin (`user_id` demoted, deactivated or
        deleted). Under the admins' lock: of two concurrent such changes the second sees the first."""
        await self.users.lock_admins()
        if await self.users.is_active_admin(user_id) and not await self.users.count_other_active_admins(
            user_id
        ):
            raise LastAdmin()

    async def ensure_admin(self, email: str, password: str | None) -> tuple[uuid.UUID, bool]:
        """Make `email` a verified admin; create it with `password` when it does not exist."""
        user = await self.users.get_by_email(email)
        if user is not None:
            await self.users.update(user.id, {"role": "admin", "email_verified": True, "is_active": True})
            return user.id, False
        if password is None:
            raise InvalidInput(["password"], "A password is needed to create the account.")
        self._check_new_password(password, email, "password")
        user_id = await self._add_user(email, password, role="admin", verified=True)
        await self.tools.events.publish(self.session, public.UserRegistered(user_id, None))
        return user_id, True


class MfaService(_AuthService):
    """Two-step sign-in: enrolment, the second step of a login, recovery codes, turning it off (also
    by an admin)."""

    def __init__(self, session: AsyncSession, database: Database, tools: AuthTools) -> None:
        super().__init__(session, database, tools)
        self.factors = TotpFactorRepository(session)
        self.recovery_codes = RecoveryCodeRepository(session)

    async def _mail(self, user: User, template: str) -> None:
        language = await users.preferred_language(self.session, user.id)
        await enqueue(self.session, user.email, MAILS.render(template, language))

    def _open_secret(self, sealed: bytes, user_id: uuid.UUID) -> str | None:
        try:
            return self.tools.mfa_keys.open(sealed)
        except SecretBoxError:
            # JWT_SECRET_KEY changed since enrolment: no code can match; an admin can turn it off.
            logger.error("a TOTP secret does not open with the current key", extra={"user_id": str(user_id)})
            return None

    async def _accept_totp(self, user_id: uuid.UUID, code: str) -> str | None:
        """Accept a TOTP code of the user's enabled factor once. None, or why not."""
        factor = await self.factors.get(user_id)
        if factor is None or factor.enabled_at is None:
            return "mfa_off"
        secret = self._open_secret(factor.secret, user_id)
        step = mfa.matching_step(secret or _DECOY_SECRET, code, self.tools.clock())
        if secret is None or step is None:
            return "wrong_code"
        if not await self.factors.claim_step(user_id, step):
            return "replay"  # this step, or a later one, was accepted already
        return None

    async def _accept_recovery_code(self, user_id: uuid.UUID, code: str) -> str | None:
        code_hash = self.tools.mfa_keys.recovery_codes.hash(user_id, code)
        if code_hash is None or not await self.recovery_codes.use(user_id, code_hash):
            return "wrong_code"
        return None

    async def _accept_any_code(self, user: User, code: str, client: Client, event: str) -> str:
        """A TOTP code or a recovery code, for the management endpoints; a wrong one counts as a
        failed login. Returns the method used."""
        method = "totp" if mfa.looks_like_totp(code) else "recovery_code"
        if method == "totp":
            failure = await self._accept_totp(user.id, code)
        else:
            failure = await self._accept_recovery_code(user.id, code)
        MFA_VERIFICATIONS.labels("manage", method, failure or "success").inc()
        if failure is not None:
            await self._count_failure(user.id, client, InvalidCode(), event=event, reason=failure)
        if method == "recovery_code":
            await self._audit("recovery_code_use", "success", client, user.id, at=event)
        return method

    async def _replace_recovery_codes(self, user_id: uuid.UUID) -> list[str]:
        codes = mfa.new_recovery_codes()
        hashes = [self.tools.mfa_keys.recovery_codes.hash(user_id, code) for code in codes]
        await self.recovery_codes.replace(
            user_id, [code_hash for code_hash in hashes if code_hash is not None]
        )
        return codes

    async def mfa_verify(
        self, mfa_token: str, code: str | None, recovery_code: str | None, client: Client
    ) -> TokenPair:
        """The second step of a login: the mfa_token and a TOTP code or a recovery code."""
        token_hash = mfa.hash_mfa_token(mfa_token)
        method = "totp" if code is not None else "recovery_code"
        # Claimed first: a concurrent verify of this token waits for this one, and finds it spent.
        claimed = await self.challenges.claim(token_hash, client.ip)
        if claimed is None:
            mfa.matching_step(_DECOY_SECRET, code or "", self.tools.clock())  # as much work as a wrong code
            MFA_VERIFICATIONS.labels("verify", method, "unknown_token").inc()
            await self._refuse(InvalidSecondStep(), client, None, event="mfa_verify", reason="unknown_token")
        user_id, first_factor = claimed
        user = await self.users.get(user_id)
        if user is None:  # pragma: no cover - challenges cascade with their user
            raise InvalidSecondStep()
        if user.locked_until is not None and user.locked_until > datetime.now(UTC):
            MFA_VERIFICATIONS.labels("verify", method, "locked").inc()
            await self._refuse(
                AccountLocked(seconds_until(user.locked_until)),
                client,
                user_id,
                event="mfa_verify",
                outcome="locked",
            )
        if code is not None:
            failure = await self._accept_totp(user_id, code)
        else:
            failure = await self._accept_recovery_code(user_id, recovery_code or "")
        MFA_VERIFICATIONS.labels("verify", method, failure or "success").inc()
        if failure is not None:
            await self._count_failure(
                user_id,
                client,
                InvalidSecondStep(),
                event="mfa_verify",
                reason=f"{method}:{failure}",
                challenge=token_hash,
            )
        if not user.is_active:
            await self._refuse(
                AccountDisabled(), client, user_id, event="mfa_verify", reason="account_disabled"
            )
        if not await self.users.record_successful_login(user_id, None):
            await self._refuse(
                AccountLocked(seconds_until(await self.users.get_locked_until(user_id) or datetime.now(UTC))),
                client,
                user_id,
                event="mfa_verify",
                outcome="locked",
            )
        pair, session_id = await self._start_session(user, client, (first_factor, "otp"))
        LOGINS.labels("success").inc()
        await self._audit("mfa_verify", "success", client, user_id, method=method, session_id=str(session_id))
        if method == "recovery_code":
            left = await self.recovery_codes.count_unused(user_id)
            await self._audit("recovery_code_use", "success", client, user_id, at="mfa_verify", left=left)
        return pair

    async def mfa_setup(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, client: Client
    ) -> TotpSetupResponse:
        user = await self._existing(user_id)
        await self._reauthenticate(user, password, session_id, client, "mfa_setup")
        secret = mfa.new_secret()
        if user.mfa_enabled or not await self.factors.put_pending(user_id, self.tools.mfa_keys.seal(secret)):
            raise MfaEnabled()
        uri = mfa.provisioning_uri(secret, user.email, self.settings.mfa_issuer)
        await self._audit("mfa_setup", "success", client, user_id)
        return TotpSetupResponse(secret=secret, otpauth_uri=uri, qr_svg=mfa.qr_svg(uri))

    async def mfa_confirm(
        self, user_id: uuid.UUID, session_id: uuid.UUID, code: str, client: Client
    ) -> list[str]:
        """Turn two-step sign-in on with a first code from the app; answer the recovery codes."""
        user = await self._existing(user_id)
        await self._refuse_if_locked(user, client, "mfa_enable")  # every /mfa endpoint, while locked
        factor = await self.factors.get(user_id)
        if factor is None:
            raise NotFound("No two-step sign-in setup is pending: start one with /mfa/totp/setup.")
        if factor.enabled_at is not None:
            raise MfaEnabled()
        secret = self._open_secret(factor.secret, user_id)
        step = mfa.matching_step(secret, code, self.tools.clock()) if secret is not None else None
        MFA_VERIFICATIONS.labels("confirm", "totp", "success" if step is not None else "wrong_code").inc()
        if step is None:
            # Not counted as a failed login: no secret is guessed here that the caller does not hold.
            await self._refuse(InvalidCode(), client, user_id, event="mfa_enable", reason="wrong_code")
        if not await self.factors.enable(user_id, step):
            raise MfaEnabled()  # a concurrent confirm won
        codes = await self._replace_recovery_codes(user_id)
        count = await self.sessions.revoke_all(user_id, "mfa_enabled", keep=session_id)
        await self._mail(user, "mfa_enabled")
        MFA_CHANGES.labels("enabled").inc()
        await self._audit("mfa_enable", "success", client, user_id, sessions_revoked=count)
        return codes

    async def mfa_disable(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, code: str, client: Client
    ) -> None:
        user = await self._existing(user_id)
        await self._reauthenticate(user, password, session_id, client, "mfa_disable")
        if not user.mfa_enabled:
            raise NotFound("Two-step sign-in is not on.")
        await self._accept_any_code(user, code, client, "mfa_disable")
        await self._turn_off(user_id)
        count = await self.sessions.revoke_all(user_id, "mfa_disabled", keep=session_id)
        await self._mail(user, "mfa_disabled")
        MFA_CHANGES.labels("disabled").inc()
        await self._audit("mfa_disable", "success", client, user_id, sessions_revoked=count)

    async def mfa_new_recovery_codes(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, code: str, client: Client
    ) -> list[str]:
        user = await self._existing(user_id)
        await self._reauthenticate(user, password, session_id, client, "recovery_codes_replace")
        if not user.mfa_enabled:
            raise NotFound("Two-step sign-in is not on.")
        await self._accept_any_code(user, code, client, "recovery_codes_replace")
        codes = await self._replace_recovery_codes(user_id)
        MFA_CHANGES.labels("recovery_codes_replaced").inc()
        await self._audit("recovery_codes_replace", "success", client, user_id)
        return codes

    async def _turn_off(self, user_id: uuid.UUID) -> bool:
        if not await self.factors.delete_enabled(user_id):
            return False
        await self.recovery_codes.delete_all(user_id)
        await self.challenges.spend_all(user_id)
        return True

    async def admin_turn_off_mfa(
        self, admin_id: uuid.UUID | None, user_id: uuid.UUID, client: Client
    ) -> None:
        """For a user who lost their device: audited, and the user is told by mail. `admin_id`
        None: the operator did it from the command line (`shop mfa-off`)."""
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        if not await self._turn_off(user_id):
            raise NotFound("Two-step sign-in is not on for this user.")
        await self._mail(user, "mfa_reset_by_admin")
        MFA_CHANGES.labels("admin_reset").inc()
        await self._audit(
            "mfa_admin_reset", "success", client, user_id, by=str(admin_id) if admin_id else "command line"
        )


class SigningKeyService:
    """The key pairs of EdDSA/ES256/RS256: made on first start, rotated by hand or every
    JWT_KEY_ROTATION_DAYS, pruned once their last token has expired. Every change runs under one
    advisory lock, so instances never race one another into two active keys or none."""

    def __init__(self, session: AsyncSession, settings: Settings, tokens: AccessTokens | None = None) -> None:
        self.session = session
        self.repo = SigningKeyRepository(session)
        self.audit = AuditRepository(session)
        self.settings = settings
        self.tokens = tokens

    async def published(self) -> list[dict[str, Any]]:
        """The JWK set: empty with HS256."""
        if self.tokens is None or not is_asymmetric(self.algorithm):
            return []
        return await self.tokens.published(self.session)

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata: only what shop supports."""
        issuer = self.settings.issuer
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "token_endpoint": f"{issuer}/api/v1/auth/token",
            "grant_types_supported": ["password"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": [],
        }

    @property
    def algorithm(self) -> str:
        return self.settings.jwt_algorithm

    def _new(self) -> NewKey:
        return new_key(self.algorithm, key_box(self.settings.signing_key()))

    def _can_sign(self, key: SigningKey) -> bool:
        """Of JWT_ALGORITHM, and its private half opens with this JWT_SECRET_KEY."""
        if key.alg != self.algorithm:
            return False
        try:
            key_box(self.settings.signing_key()).open(key.private_key)
        except SecretBoxError:
            return False
        return True

    def _refuse_sealed_elsewhere(self, keys: list[SigningKey]) -> None:
        """The active and next keys of JWT_ALGORITHM must open: else the first token signed after
        start, or after the next rotation, would fail — refuse now, naming the cause."""
        unopened = [
            k.kid
            for k in keys
            if k.state in ("active", "next") and k.alg == self.algorithm and not self._can_sign(k)
        ]
        if unopened:
            raise SigningKeysSealedElsewhere(unopened)

    async def check_sealed(self) -> None:
        """Raises SigningKeysSealedElsewhere when JWT_SECRET_KEY cannot open the keys that sign."""
        self._refuse_sealed_elsewhere(await self.listing())

    async def listing(self) -> list[SigningKey]:
        if not is_asymmetric(self.algorithm):
            return []
        return await self.repo.list_all()

    async def ensure(self) -> None:
        """At startup: an active and a next key of JWT_ALGORITHM. When JWT_ALGORITHM changed, the
        old active key retires (its tokens stay valid until they expire) and a new one signs. Keys
        sealed under another JWT_SECRET_KEY: SigningKeysSealedElsewhere, nothing changed."""
        if not is_asymmetric(self.algorithm):
            return
        await self.repo.lock()
        keys = await self.repo.list_all()
        self._refuse_sealed_elsewhere(keys)
        active = next((k for k in keys if k.state == "active"), None)
        upcoming = next((k for k in keys if k.state == "next"), None)
        if active is None:
            if upcoming is not None and self._can_sign(upcoming):
                await self.repo.activate(upcoming.kid)  # already published: promote it
            else:
                if upcoming is not None:
                    await self.repo.delete(upcoming.kid)
                await self.repo.add(self._new(), "active")
            await self.repo.add(self._new(), "next")
            logger.info("signing keys created", extra={"alg": self.algorithm})
        elif active.alg != self.algorithm:
            await self._rotate(keys, reason="algorithm")
        elif upcoming is None or upcoming.alg != self.algorithm:
            await self._replace_next(upcoming)

    async def rotate(self, *, actor: uuid.UUID | None = None, new_secret: bool = False) -> list[SigningKey]:
        """Next becomes active, active retires, a new next is made; the keys afterwards.

        Keys sealed under another JWT_SECRET_KEY are refused (SigningKeysSealedElsewhere) unless
        `new_secret`: the operator changes JWT_SECRET_KEY on purpose. Then a next key that does not
        open is dropped (it never signed) and a new key signs; the old active key retires as usual —
        verifying needs only its public half, so its tokens stay valid until they expire."""
        if not is_asymmetric(self.algorithm):
            raise KeyRotationUnavailable()
        await self.repo.lock()
        keys = await self.repo.list_all()
        if not new_secret:
            self._refuse_sealed_elsewhere(keys)
        active = next((k for k in keys if k.state == "active"), None)
        if active is None:
            upcoming = next((k for k in keys if k.state == "next"), None)
            if upcoming is not None and not self._can_sign(upcoming):
                await self.repo.delete(upcoming.kid)
            await self.ensure()
        else:
            reason = "new_secret" if new_secret and not self._can_sign(active) else "manual"
            await self._rotate(keys, reason=reason, actor=actor)
        await self.prune()
        if self.tokens is not None:
            self.tokens.keys_changed()  # this instance signs with the new key from its next token
        return await self.repo.list_all()

    async def maintain(self) -> bool:
        """The periodic duty of every instance: prune expired retired keys and, when
        JWT_KEY_ROTATION_DAYS is set and due, rotate. Only the instance that takes the lock acts,
        and it checks again under the lock, so one period gives one rotation. True if it rotated."""
        if not is_asymmetric(self.algorithm) or not await self.repo.try_lock():
            return False
        await self.prune()
        days = self.settings.jwt_key_rotation_days
        if days is None or not await self.repo.rotation_due(days):
            return False
        keys = await self.repo.list_all()
        active = next((k for k in keys if k.state == "active"), None)
        if active is None or not self._can_sign(active):
            # Sealed under another JWT_SECRET_KEY (`rotate --new-secret` while this instance still
            # runs on the old one): rotating here would replace the new secret's keys by keys the
            # other instances cannot open. An instance that can open them rotates instead.
            logger.warning("scheduled key rotation skipped: JWT_SECRET_KEY does not open the active key")
            return False
        await self._rotate(keys, reason="scheduled")
        return True

    async def prune(self) -> list[str]:
        lifetime = retired_key_lifetime(self.settings.access_token_ttl_seconds).total_seconds()
        return await self.repo.delete_retired_before(lifetime)

    async def _replace_next(self, upcoming: SigningKey | None) -> None:
        if upcoming is not None:
            await self.repo.delete(upcoming.kid)  # a next key never signed: nothing refers to it
        await self.repo.add(self._new(), "next")

    async def _rotate(self, keys: list[SigningKey], *, reason: str, actor: uuid.UUID | None = None) -> None:
        active = next(k for k in keys if k.state == "active")
        upcoming = next((k for k in keys if k.state == "next"), None)
        if upcoming is not None and not self._can_sign(upcoming):
            await self.repo.delete(upcoming.kid)  # another algorithm's, or sealed under another secret
            upcoming = None
        # Order matters for the one-active/one-next indexes: retire, promote, then make a new next.
        await self.repo.retire(active.kid)
        if upcoming is None:
            await self.repo.add(self._new(), "active")
        else:
            await self.repo.activate(upcoming.kid)
        await self.repo.add(self._new(), "next")
        await self.audit.add(
            "signing_key_rotated",
            "success",
            user_id=actor,
            ip=None,
            user_agent=None,
            details={"reason": reason, "retired": active.kid, "alg": self.algorithm},
        )
        logger.info("signing keys rotated", extra={"reason": reason, "retired_kid": active.kid})
