"""What other parts of the app may use from auth: event types and the session check for the guard."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.errors import MfaRequired
from shop.auth.repository import UserRepository
from shop.auth.sessions.repository import SessionRepository, SignedInAccount
from shop.core.config import Settings
from shop.core.security import GuardPolicy, Principal


@dataclass(frozen=True, slots=True)
class UserRegistered:
    """Published inside the registration transaction. An account made by another provider also
    carries what the provider said of the person: a language tag and the names."""

    user_id: uuid.UUID
    accept_language: str | None
    locale: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True, slots=True)
class AccountDeleted:
    """Published inside the deletion transaction, before the account's rows are removed."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class EmailVerified:
    """Published inside the transaction that first proves the account's address (a verification
    link, a reset link, an admin)."""

    user_id: uuid.UUID
    email: str


@dataclass(frozen=True, slots=True)
class AccountDeactivated:
    """Published inside the transaction that deactivates the account (an admin)."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class AccountReactivated:
    """Published inside the transaction that makes a deactivated account active again."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What other contexts may know of an account: its address, whether it is proven, since when."""

    user_id: uuid.UUID
    email: str
    email_verified: bool
    created_at: datetime


async def account_facts(session: AsyncSession, user_id: uuid.UUID) -> AccountFacts | None:
    """The account's facts inside the caller's transaction (a new account's too), None if unknown."""
    user = await UserRepository(session).get(user_id)
    if user is None:
        return None
    return AccountFacts(user.id, user.email, user.email_verified, user.created_at)


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """The account of a live session's active user (its `role` among the fields GET /me shows), or
    None when the session or user is gone, or the session is older than its maximum lifetime (a
    `shop.core.security.SessionValidator`)."""

    max_lifetime_seconds: int

    async def __call__(
        self, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, *, hold: bool = False
    ) -> SignedInAccount | None:
        return await SessionRepository(session).get_live_account(
            user_id, session_id, self.max_lifetime_seconds, hold=hold
        )


@dataclass(frozen=True, slots=True)
class EmailChanged:
    """Published inside the transaction that makes `email` (verified) the account's address."""

    user_id: uuid.UUID
    email: str


# The `amr` values (RFC 8176) that prove more than one factor: a code after the password, or a passkey.
SECOND_FACTOR_AMR = frozenset({"otp", "mfa"})


def guard_policy(settings: Settings, prefix: str) -> GuardPolicy:
    """auth's rules for the kernel's bearer guard, with auth's routes under `prefix`: where a token
    is got, and (ADMIN_MFA_REQUIRED) that an admin signed in with a password alone is refused, and
    told why."""

    def admin_rule(principal: Principal) -> None:
        # A second step (`otp`) or a passkey with user verification (`mfa`, RFC 8176) satisfies it.
        if settings.admin_needs_mfa and not SECOND_FACTOR_AMR.intersection(principal.amr):
            raise MfaRequired("Admin routes need two-step sign-in: turn it on, then sign in with a code.")

    return GuardPolicy(
        token_url=f"{prefix}/token",
        bearer_description=f"An access token from {prefix}/login.",
        admin_rule=admin_rule,
    )
