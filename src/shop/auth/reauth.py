"""Re-authentication: the one rule of every endpoint that asks for the password (`password` or
`current_password`) to confirm a sensitive act — changing the password, deleting the account,
managing two-step sign-in, passkeys and linked providers, changing the email, exporting the data.

An account with a password gives it: a wrong one counts as a failed login, towards the lockout,
as it always has. An account without one (made by another provider) leaves the member out: the
calling session must have signed in — by any method — within REAUTH_MAX_AGE_SECONDS. A refresh is
not a sign-in: the session's creation is what counts, so a stolen refresh token cannot renew it.

Wiring: a service receives it built by `shop.auth.dependencies.reauthentication(session, tools,
lockout)` and calls `confirm(user, password, session_id, client, event)` first thing. Today:
/change-password and DELETE /me (accounts), /mfa/totp/setup, DELETE /mfa/totp and
/mfa/recovery-codes (mfa), DELETE /identities/{id} (providers), /email-change and /me/export
(accounts), /passkeys/registration-options and DELETE /passkeys/{id} (passkeys, through `_confirm`).
Their `password` member is optional and their routes declare `ReauthenticationRequired`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shop.auth.errors import InvalidCurrentPassword, ReauthenticationRequired
from shop.auth.models import User
from shop.auth.sessions.repository import SessionRepository
from shop.auth.tools import Client
from shop.core.errors import InvalidInput

# Checks a given password, counting a wrong one towards the lockout (raises when it is wrong).
PasswordCheck = Callable[[User, str, Client, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reauthentication:
    sessions: SessionRepository
    max_age_seconds: int
    check_password: PasswordCheck

    async def confirm(
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
        """Accept the act, or raise. `field`: the member's name in the request (for a 422 when an
        account with a password left it out). `needs_password`: the act itself needs a password
        (changing it): an account without one is told to set one by reset."""
        if user.password_hash is not None:
            if password is None:
                raise InvalidInput(["body", field], "Field required", "missing")
            await self.check_password(user, password, client, event)
            return
        if needs_password:
            raise InvalidCurrentPassword(
                "This account has no password: set one with a password reset (/password-reset-request)."
            )
        if not await self.sessions.signed_in_within(session_id, self.max_age_seconds):
            raise ReauthenticationRequired()
