"""What every capability of auth shares: the per-app collaborators (`AuthTools`), the calling
`Client`, the audit record, the secrets of mailed links, sessions and challenges, and the mails."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.keys.tokens import AccessTokens
from shop.auth.mails import render_mail
from shop.auth.mfa.codes import MfaKeys
from shop.auth.models import User
from shop.auth.passwords import PasswordHasher
from shop.auth.repository import AuditRepository, UserRepository
from shop.core.config import Settings
from shop.core.errors import NotFound, TokenRevoked
from shop.core.events import EventBus
from shop.core.mail.outbox import enqueue
from shop.core.ratelimit import RateLimiter
from shop.users import public as users


def new_token() -> str:
    """A bearer secret (a refresh token, a mailed link's token, an mfa_token): 256 random bits."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    """How a bearer secret is stored and looked up: only its SHA-256."""
    return hashlib.sha256(token.encode()).digest()


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
    mfa_keys: MfaKeys
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


async def existing(users: UserRepository, user_id: uuid.UUID) -> User:
    user = await users.get(user_id)
    if user is None:
        raise NotFound("The account does not exist.")
    return user


async def signed_in(users: UserRepository, user_id: uuid.UUID) -> User:
    """The caller's own account. Gone means it was deleted after the caller's token was checked (a
    deletion in another tab): its sessions went with it, so the answer is the one that token now
    gets, 401 `token_revoked`, not a 404 no signed-in endpoint names."""
    user = await users.get(user_id)
    if user is None:
        raise TokenRevoked()
    return user


async def tell_owner(session: AsyncSession, user: User, template: str) -> None:
    """A mail that tells the owner about their account (a password changed, two-step sign-in on or
    off...), in their language, queued in this transaction; it holds no link that acts."""
    language = await users.preferred_language(session, user.id)
    await enqueue(session, user.email, render_mail(template, language))
