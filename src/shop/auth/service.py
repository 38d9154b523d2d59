"""The rules of the auth context. Services take a session and never commit."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth import public
from shop.auth.errors import (
    AccountDisabled,
    AccountLocked,
    EmailNotVerified,
    EmailTaken,
    EmailTokenInvalid,
    InvalidCredentials,
    InvalidCurrentPassword,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenRevoked,
    TokenReused,
)
from shop.auth.models import Session, User
from shop.auth.passwords import PasswordHasher, password_problem
from shop.auth.repository import AuthRepository
from shop.auth.schemas import TokenPair, TokenUser
from shop.core import mail
from shop.core.config import Settings
from shop.core.errors import InvalidInput, NotFound
from shop.core.events import bus
from shop.core.metrics import LOCKOUTS, LOGINS
from shop.core.ratelimit import RateLimiter
from shop.core.security import TokenCodec
from shop.users import public as users

logger = logging.getLogger("shop.auth")

VERIFY, RESET = "verify", "reset"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Client:
    """Who is on the other end, for sessions and the audit log."""

    ip: str | None
    user_agent: str | None
    accept_language: str | None = None


@dataclass(frozen=True, slots=True)
class AuthTools:
    """The per-app collaborators of the auth service."""

    settings: Settings
    hasher: PasswordHasher
    codec: TokenCodec
    limiter: RateLimiter


def _seconds_until(moment: datetime) -> int:
    return max(1, math.ceil((moment - datetime.now(UTC)).total_seconds()))


class AuthService:
    def __init__(self, session: AsyncSession, tools: AuthTools) -> None:
        self.session = session
        self.repo = AuthRepository(session)
        self.tools = tools
        self.settings = tools.settings

    # -- helpers ----------------------------------------------------------------------------

    async def _audit(
        self, event: str, outcome: str, client: Client, user_id: uuid.UUID | None, **details: object
    ) -> None:
        await self.repo.audit(
            event,
            outcome,
            user_id=user_id,
            ip=client.ip,
            user_agent=client.user_agent,
            details=dict(details) or None,
        )

    def _check_new_password(self, password: str, email: str | None, field: str) -> None:
        problem = password_problem(password, email, self.settings.password_min_length)
        if problem is not None:
            raise InvalidInput(["body", field], problem)

    async def _send_email_token(self, user: User, purpose: str) -> None:
        token = new_token()
        ttl = (
            self.settings.verify_token_ttl_seconds
            if purpose == VERIFY
            else self.settings.reset_token_ttl_seconds
        )
        await self.repo.add_email_token(user.id, purpose, hash_token(token), ttl)
        language = await users.preferred_language(self.session, user.id)
        base = self.settings.public_url.rstrip("/")
        if purpose == VERIFY:
            rendered = mail.render(
                "verify_email", language, link=f"{base}/verify-email?token={token}", hours=str(ttl // 3600)
            )
        else:
            rendered = mail.render(
                "reset_password",
                language,
                link=f"{base}/reset-password?token={token}",
                minutes=str(ttl // 60),
            )
        await mail.enqueue(self.session, user.email, rendered)

    async def _limit_email(self, scope: str, email: str) -> None:
        await self.tools.limiter.hit(self.settings.rate_limit_email, f"{scope}:email", email)

    async def _start_session(self, user: User, client: Client) -> tuple[TokenPair, uuid.UUID]:
        ttl = self.settings.refresh_token_ttl_seconds
        login = await self.repo.create_session(user.id, ttl, client.user_agent, client.ip)
        refresh = new_token()
        await self.repo.add_refresh_token(login.id, hash_token(refresh), ttl)
        return self._pair(user.id, user.email, user.email_verified, login.id, refresh), login.id

    def _pair(
        self, user_id: uuid.UUID, email: str, verified: bool, session_id: uuid.UUID, refresh: str
    ) -> TokenPair:
        access = self.tools.codec.issue_access(user_id, session_id)
        return TokenPair(
            access_token=access.token,
            refresh_token=refresh,
            expires_in=access.expires_in,
            refresh_expires_in=self.settings.refresh_token_ttl_seconds,
            user=TokenUser(id=user_id, email=email, email_verified=verified),
        )

    # -- registration and verification ------------------------------------------------------

    async def register(self, email: str, password: str, client: Client) -> uuid.UUID:
        self._check_new_password(password, email, "password")
        password_hash = await self.tools.hasher.hash(password)
        user_id = await self.repo.insert_user(email, password_hash)
        if user_id is None:
            raise EmailTaken()
        await bus.publish(self.session, public.UserRegistered(user_id, client.accept_language))
        user = await self.repo.user_by_id(user_id)
        if user is None:  # pragma: no cover - inserted above in this transaction
            raise RuntimeError("registered user vanished")
        await self._send_email_token(user, VERIFY)
        await self._audit("register", "success", client, user_id)
        return user_id

    async def verify_email(self, token: str, client: Client) -> None:
        user_id = await self.repo.use_email_token(hash_token(token), VERIFY)
        if user_id is None:
            raise EmailTokenInvalid()
        await self.repo.set_email_verified(user_id)
        await self._audit("verify_email", "success", client, user_id)

    async def email_link_state(self, token: str, purpose: str) -> str:
        """What a mailed link's token is now (`valid`, `used`, `expired`, `unknown`), without spending it."""
        return await self.repo.email_token_state(hash_token(token), purpose)

    async def resend_verification(self, email: str, client: Client) -> None:
        await self._limit_email("resend-verification", email)
        user = await self.repo.user_by_email(email)
        if user is not None and not user.email_verified and user.is_active:
            await self._send_email_token(user, VERIFY)
            await self._audit("resend_verification", "success", client, user.id)

    # -- login, refresh, logout -------------------------------------------------------------

    async def login(self, email: str, password: str, client: Client) -> TokenPair:
        user = await self.repo.user_by_email(email)
        if user is None:
            await self.tools.hasher.burn(password)
            LOGINS.labels("invalid_credentials").inc()
            await self._audit("login", "failure", client, None, reason="unknown_email")
            raise InvalidCredentials(keep_changes=True)
        if user.locked_until is not None and user.locked_until > datetime.now(UTC):
            await self._locked(user.id, client, user.locked_until)

        ok, new_hash = await self.tools.hasher.verify(password, user.password_hash)
        if not ok:
            await self._failed_login(user, client)
        if not user.is_active:
            LOGINS.labels("account_disabled").inc()
            await self._audit("login", "failure", client, user.id, reason="account_disabled")
            raise AccountDisabled(keep_changes=True)
        if not user.email_verified:
            LOGINS.labels("email_not_verified").inc()
            await self._audit("login", "failure", client, user.id, reason="email_not_verified")
            raise EmailNotVerified(keep_changes=True)
        if not await self.repo.record_successful_login(user.id, new_hash):
            # Locked by concurrent failures while the password was being checked.
            await self._locked(user.id, client)
        pair, session_id = await self._start_session(user, client)
        LOGINS.labels("success").inc()
        await self._audit("login", "success", client, user.id, session_id=str(session_id))
        return pair

    async def _locked(self, user_id: uuid.UUID, client: Client, until: datetime | None = None) -> NoReturn:
        """423 for an account locked before or during this attempt; the attempt does not count.

        Without `until`, the lock is read afresh: a concurrent request may just have set it."""
        until = until or await self.repo.locked_until(user_id) or datetime.now(UTC)
        LOGINS.labels("locked").inc()
        await self._audit("login", "locked", client, user_id)
        raise AccountLocked(_seconds_until(until), keep_changes=True)

    async def _failed_login(self, user: User, client: Client) -> None:
        counted, locked_until = await self.repo.record_failed_login(
            user.id,
            threshold=self.settings.lockout_threshold,
            base_seconds=self.settings.lockout_base_seconds,
            max_seconds=self.settings.lockout_max_seconds,
        )
        if not counted:
            await self._locked(user.id, client)  # locked meanwhile: this failure does not count
        if locked_until is not None:
            LOCKOUTS.inc()
            LOGINS.labels("locked").inc()
            await self._audit("lockout", "locked", client, user.id, until=locked_until.isoformat())
            raise AccountLocked(_seconds_until(locked_until), keep_changes=True)
        LOGINS.labels("invalid_credentials").inc()
        await self._audit("login", "failure", client, user.id, reason="wrong_password")
        raise InvalidCredentials(keep_changes=True)

    async def refresh(self, refresh_token: str, client: Client) -> TokenPair:
        token_hash = hash_token(refresh_token)
        found = await self.repo.refresh_token_with_session(token_hash)
        if found is None:
            raise RefreshTokenInvalid()
        token, login = found
        if login.revoked_at is not None:
            raise RefreshTokenRevoked()
        if token.rotated_at is not None:
            await self._reused(token.rotated_at, login, client)
        if token.expires_at <= datetime.now(UTC):
            raise RefreshTokenExpired()
        if not await self.repo.claim_refresh_token(token_hash):
            # A concurrent request rotated it first: this use is a reuse like any other.
            rotated_at = await self.repo.rotated_at(token_hash)
            await self._reused(rotated_at or datetime.now(UTC), login, client)
        user = await self.repo.user_by_id(login.user_id)
        if user is None or not user.is_active:
            raise RefreshTokenRevoked()
        new_refresh = new_token()
        ttl = self.settings.refresh_token_ttl_seconds
        await self.repo.add_refresh_token(login.id, hash_token(new_refresh), ttl)
        await self.repo.extend_session(login.id, ttl)
        return self._pair(user.id, user.email, user.email_verified, login.id, new_refresh)

    async def _reused(self, rotated_at: datetime, login: Session, client: Client) -> None:
        age = (datetime.now(UTC) - rotated_at).total_seconds()
        if age <= self.settings.refresh_reuse_grace_seconds:
            # Two tabs refreshing at once: refuse the loser, keep the session.
            await self._audit("refresh_reuse", "grace", client, login.user_id, session_id=str(login.id))
            raise TokenReused(keep_changes=True)
        await self.repo.revoke_session(login.id, "refresh_reuse")
        await self._audit("refresh_reuse", "revoked", client, login.user_id, session_id=str(login.id))
        logger.warning("refresh token reuse: session revoked", extra={"session_id": str(login.id)})
        raise TokenReused(keep_changes=True)

    async def logout(self, user_id: uuid.UUID, session_id: uuid.UUID, client: Client) -> None:
        await self.repo.revoke_session(session_id, "logout", user_id=user_id)
        await self._audit("logout", "success", client, user_id, session_id=str(session_id))

    async def logout_all(self, user_id: uuid.UUID, client: Client) -> None:
        count = await self.repo.revoke_user_sessions(user_id, "logout_all")
        await self._audit("logout_all", "success", client, user_id, sessions=count)

    # -- passwords --------------------------------------------------------------------------

    async def request_password_reset(self, email: str, client: Client) -> None:
        await self._limit_email("password-reset-request", email)
        user = await self.repo.user_by_email(email)
        if user is not None and user.is_active:
            await self._send_email_token(user, RESET)
            await self._audit("password_reset_request", "success", client, user.id)

    async def reset_password(self, token: str, password: str, client: Client) -> None:
        user_id = await self.repo.use_email_token(hash_token(token), RESET)
        if user_id is None:
            raise EmailTokenInvalid()
        user = await self.repo.user_by_id(user_id)
        if user is None:  # pragma: no cover - tokens cascade with their user
            raise EmailTokenInvalid()
        self._check_new_password(password, user.email, "password")
        await self.repo.set_password(user_id, await self.tools.hasher.hash(password), unlock=True)
        # The mail reached its owner: the address is proven.
        await self.repo.set_email_verified(user_id)
        count = await self.repo.revoke_user_sessions(user_id, "password_reset")
        await self._audit("password_reset", "success", client, user_id, sessions_revoked=count)

    async def change_password(
        self, user_id: uuid.UUID, session_id: uuid.UUID, current: str, new: str, client: Client
    ) -> None:
        user = await self._existing(user_id)
        await self._confirm_password(user, current, client, "password_change")
        self._check_new_password(new, user.email, "new_password")
        await self.repo.set_password(user_id, await self.tools.hasher.hash(new), unlock=True)
        count = await self.repo.revoke_user_sessions(user_id, "password_change", keep=session_id)
        await self._audit("password_change", "success", client, user_id, sessions_revoked=count)

    # -- the account ------------------------------------------------------------------------

    async def _confirm_password(self, user: User, password: str, client: Client, event: str) -> None:
        """Re-authentication before a sensitive change. Limited per account with the login budget, so a
        stolen session cannot guess the password it would need to take the account over."""
        await self.tools.limiter.hit(self.settings.rate_limit_login, "reauthenticate", str(user.id))
        ok, _ = await self.tools.hasher.verify(password, user.password_hash)
        if not ok:
            await self._audit(event, "failure", client, user.id)
            raise InvalidCurrentPassword(keep_changes=True)

    async def _existing(self, user_id: uuid.UUID) -> User:
        user = await self.repo.user_by_id(user_id)
        if user is None:
            raise NotFound("The account does not exist.")
        return user

    async def me(self, user_id: uuid.UUID) -> User:
        return await self._existing(user_id)

    async def delete_account(self, user_id: uuid.UUID, password: str, client: Client) -> None:
        user = await self._existing(user_id)
        await self._confirm_password(user, password, client, "account_delete")
        await bus.publish(self.session, public.AccountDeleted(user_id))
        await self.repo.delete_user(user_id)
        await self._audit("account_delete", "success", client, user_id)

    async def sessions(self, user_id: uuid.UUID) -> list[Session]:
        return await self.repo.live_sessions(user_id)

    async def revoke_session(self, user_id: uuid.UUID, session_id: uuid.UUID, client: Client) -> None:
        if not await self.repo.revoke_session(session_id, "revoked_by_user", user_id=user_id):
            raise NotFound("No such session.")
        await self._audit("session_revoke", "success", client, user_id, session_id=str(session_id))

    # -- administration ---------------------------------------------------------------------

    async def find_users(self, email: str | None) -> list[User]:
        return await self.repo.list_users(email, limit=50)

    async def admin_update_user(
        self, admin_id: uuid.UUID, user_id: uuid.UUID, changes: dict[str, object], client: Client
    ) -> User:
        user = (
            await self.repo.update_user(user_id, changes) if changes else await self.repo.user_by_id(user_id)
        )
        if user is None:
            raise NotFound("No such user.")
        if changes.get("is_active") is False:
            await self.repo.revoke_user_sessions(user_id, "deactivated")
        await self._audit("admin_update_user", "success", client, user_id, by=str(admin_id), **changes)
        return user

    async def ensure_admin(self, email: str, password: str | None) -> tuple[uuid.UUID, bool]:
        """Make `email` a verified admin; create it with `password` when it does not exist."""
        user = await self.repo.user_by_email(email)
        if user is not None:
            await self.repo.update_user(user.id, {"role": "admin", "email_verified": True, "is_active": True})
            return user.id, False
        if password is None:
            raise InvalidInput(["password"], "A password is needed to create the account.")
        self._check_new_password(password, email, "password")
        user_id = await self.repo.insert_user(
            email, await self.tools.hasher.hash(password), role="admin", verified=True
        )
        if user_id is None:
            raise EmailTaken()
        await bus.publish(self.session, public.UserRegistered(user_id, None))
        return user_id, True
