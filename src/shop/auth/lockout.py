"""The one place that counts failed sign-ins, locks and unlocks an account, says whether it is locked
now, and records a refusal in the audit log. Every capability (sessions, accounts, mfa, and the
passkeys and providers to come) receives a `Lockout` and never counts, locks or audits a refusal
itself.

A refusal whose record must outlast the request — a failure count, an audit row — is written in its
own short unit of work (`refusal()`) just before the error is raised: the request fails, so its own
changes are rolled back first and the refusal never waits on a lock the request holds. The error
itself writes nothing.

The interface, for a new capability:

- `Lockout.locked_until(user)`: when a locked account unlocks, None when it is not locked now.
- `refuse_if_locked(user, client, event)`: 423 (audited `event`/`locked`) for an account locked now.
- `refuse_locked(user_id, client, event, until=None)`: 423 for an account locked before or during
  this attempt (`until` None: read afresh); the attempt does not count.
- `count_failure(user_id, client, error, event=, reason=, challenge=None)`: a wrong secret (password,
  code, passkey assertion...) counted as a failed sign-in; the failure that reaches the threshold
  locks the account and answers 423, else `error` is raised. Always raises.
- `record_success(user_id, client, event, new_hash=None)`: a completed sign-in resets the count
  (the lock included); refused with 423 when a lock arrived meanwhile. (A password login sends the
  same reset, `SUCCESSFUL_SIGN_IN`, in one statement with its new session, then `refuse_locked`.)
- `unlock(user_id, keep_doubling=False)`: lift the lock and the count (a new password does; a
  reset by mail keeps the lockout doubling).
- `confirm_password(user, password, client, event)`: re-authentication before a sensitive change,
  refused while locked, rate limited per account, and a wrong password counts.
- `refuse(error, client, user_id, event=, outcome=, **details)`: audit any other refusal, then raise.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.errors import AccountLocked, InvalidCurrentPassword
from shop.auth.metrics import LOCKOUTS
from shop.auth.mfa.repository import MfaChallengeRepository
from shop.auth.models import User
from shop.auth.repository import PasswordAccount, UserRepository
from shop.auth.tools import AuthTools, Client, audit, seconds_until
from shop.core.conflicts import tally
from shop.core.db import Database
from shop.core.errors import ShopError

# After this many wrong codes an mfa_token is spent (the account's lockout counts them too).
MFA_TOKEN_MAX_ATTEMPTS = 5


class Lockout:
    """Failed sign-ins, locks and refusals of one request (built per request with its session)."""

    def __init__(self, session: AsyncSession, database: Database, tools: AuthTools) -> None:
        self.session = session
        self.database = database
        self.tools = tools
        self.users = UserRepository(session)

    @staticmethod
    def locked_until(user: User | PasswordAccount) -> datetime | None:
        """Is this account locked now? When it unlocks, or None."""
        if user.locked_until is not None and user.locked_until > datetime.now(UTC):
            return user.locked_until
        return None

    @asynccontextmanager
    async def refusal(self) -> AsyncIterator[AsyncSession]:
        """The unit of work of a refusal that must persist. The request's own changes are void (it
        fails): they are rolled back first, so the refusal never waits on a lock the request holds."""
        await self.session.rollback()
        async with self.database.unit_of_work() as session:
            yield session

    async def refuse(
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
        async with self.refusal() as session:
            await audit(session, event, outcome, client, user_id, **details)
        raise error

    async def refuse_if_locked(self, user: User | PasswordAccount, client: Client, event: str) -> None:
        until = self.locked_until(user)
        if until is not None:
            await self.refuse_locked(user.id, client, event, until=until)

    async def refuse_locked(
        self,
        user_id: uuid.UUID,
        client: Client,
        event: str,
        *,
        until: datetime | None = None,
        **details: object,
    ) -> NoReturn:
        """423 for an account locked before or during this attempt; the attempt does not count.
        Without `until`, the lock is read afresh: a concurrent request may just have set it."""
        async with self.refusal() as session:
            until = until or await UserRepository(session).get_locked_until(user_id) or datetime.now(UTC)
            await audit(session, event, "locked", client, user_id, **details)
        raise AccountLocked(seconds_until(until))

    async def count_failure(
        self,
        user_id: uuid.UUID,
        client: Client,
        error: ShopError,
        *,
        event: str,
        reason: str,
        challenge: bytes | None = None,
    ) -> NoReturn:
        """A wrong secret: counted as a failed sign-in in the refusal's own unit of work. The failure
        that reaches the threshold locks the account and answers 423 at once; so does an account
        locked meanwhile (where the failure does not count). `challenge`: also count it against that
        mfa_token, which the 5th wrong code spends."""
        settings = self.tools.settings
        async with self.refusal() as session:
            users = UserRepository(session)
            if challenge is not None:
                await MfaChallengeRepository(session).record_failure(challenge, MFA_TOKEN_MAX_ATTEMPTS)
            counted, locked_until = await users.record_failed_login(
                user_id,
                threshold=settings.lockout_threshold,
                base_seconds=settings.lockout_base_seconds,
                max_seconds=settings.lockout_max_seconds,
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
            tally(LOCKOUTS.inc)
        if locked_until is not None:
            raise AccountLocked(seconds_until(locked_until))
        raise error

    async def record_success(
        self, user_id: uuid.UUID, client: Client, event: str, new_hash: str | None = None
    ) -> None:
        """A completed sign-in (with the password's new hash, when it was rehashed): the count and the
        lock are reset. A lock set by concurrent failures meanwhile refuses it (423)."""
        if not await self.users.record_successful_login(user_id, new_hash):
            await self.refuse_locked(user_id, client, event)

    async def unlock(self, user_id: uuid.UUID, *, keep_doubling: bool = False) -> None:
        """Lift the lock and the count; the lockout doubling too unless `keep_doubling` (a reset by
        mail keeps it: a mailbox alone must not renew a budget of guesses)."""
        await self.users.unlock(user_id, keep_doubling=keep_doubling)

    async def confirm_password(self, user: User, password: str, client: Client, event: str) -> None:
        """Re-authentication before a sensitive change. A wrong password counts as a failed login (the
        5th locks the account), and a locked account is refused here too; limited per account with the
        login budget as well, so a stolen session cannot guess the password it would need."""
        await self.refuse_if_locked(user, client, event)
        settings = self.tools.settings
        await self.tools.limiter.hit(settings.rate_limit_login, "reauthenticate", str(user.id))
        ok = False
        if user.password_hash is not None:
            ok, _ = await self.tools.hasher.verify(password, user.password_hash)
        if not ok:
            await self.count_failure(
                user.id, client, InvalidCurrentPassword(), event=event, reason="wrong_password"
            )
