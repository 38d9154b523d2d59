"""Bearer guards. The token travels in the Authorization header. The kernel neither mints nor knows
the token format: it asks a `BearerGuard` — an `AccessTokenVerifier` and a `SessionValidator` that
auth plugs in at startup (`shop.bootstrap`) — so users and localization need nothing from auth, and
the kernel knows no context."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.config import Settings
from shop.core.db import SAFE_METHODS, SessionDep
from shop.core.errors import Forbidden, MfaRequired, NotAuthenticated, TokenRevoked
from shop.core.logging import bind_user


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says: whose it is, of which session, and every claim it carries."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    claims: Mapping[str, Any] = field(default_factory=dict)


class AccessTokenVerifier(Protocol):
    """Checks an access token; raises TokenInvalid or TokenExpired (shop.core.errors) when it fails.
    It gets the request's database session: with key pairs kept in the database, the verifier
    reads them again now and then (after a rotation, or for a `kid` it does not know yet)."""

    async def verify(self, session: AsyncSession, token: str) -> AccessClaims: ...


class SessionValidator(Protocol):
    """Answers: is this session live and its user existing and active? Returns the user's account
    as the context that owns accounts shows it — with at least its `role` — or None.

    `hold`: the request writes — keep the account from being deleted until the request's
    transaction ends, so nothing it writes can outlive a deletion that began meanwhile."""

    async def __call__(
        self, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, *, hold: bool = False
    ) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class BearerGuard:
    tokens: AccessTokenVerifier
    sessions: SessionValidator


def install_guard(app: FastAPI, guard: BearerGuard) -> None:
    app.state.bearer_guard = guard


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, the session of the access token, the role, the token's claims, and
    the account the guard read to let the request in (what `SessionValidator` returned)."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    account: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def amr(self) -> tuple[str, ...]:
        """How the user signed in (RFC 8176): `pwd`, plus `otp` after a second step; `pop` and `mfa`
        with a passkey."""
        methods = self.claims.get("amr")
        if not isinstance(methods, list):
            return ()
        return tuple(method for method in methods if isinstance(method, str))


# The `amr` values (RFC 8176) that prove more than one factor: a code after the password, or a passkey.
SECOND_FACTOR_AMR = frozenset({"otp", "mfa"})

# auto_error=False: a missing header is our own 401 problem, not the framework's 403.
_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login.")
# Declares the password flow in OpenAPI so Swagger UI's Authorize button can sign in.
_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
OAuth2Flow = Annotated[str | None, Depends(_oauth2)]


async def _principal(
    request: Request, session: AsyncSession, credentials: HTTPAuthorizationCredentials | None, *, hold: bool
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated()
    guard: BearerGuard = request.app.state.bearer_guard
    verified = await guard.tokens.verify(session, credentials.credentials)
    account = await guard.sessions(session, verified.user_id, verified.session_id, hold=hold)
    if account is None:
        raise TokenRevoked()
    bind_user(verified.user_id)  # every later log line of this request names the user
    return Principal(verified.user_id, verified.session_id, account["role"], verified.claims, account)


async def get_principal(
    request: Request, session: SessionDep, credentials: Credentials, _: OAuth2Flow
) -> Principal:
    # A writing request holds its account (one statement still): a deletion waits for it to end,
    # and a request that starts during a deletion finds the account gone once it commits.
    return await _principal(request, session, credentials, hold=request.method not in SAFE_METHODS)


async def get_unheld_principal(
    request: Request, session: SessionDep, credentials: Credentials, _: OAuth2Flow
) -> Principal:
    """The caller, without the hold: for a request that locks its account more strongly itself
    (its deletion). Holding it first and then locking it harder is an upgrade that two such
    requests at once can only end in a deadlock (each holds what the other waits for)."""
    return await _principal(request, session, credentials, hold=False)


async def get_admin(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This needs the admin role.")
    settings: Settings = request.app.state.settings
    if settings.admin_needs_mfa and not SECOND_FACTOR_AMR.intersection(principal.amr):
        # ADMIN_MFA_REQUIRED: an admin signed in with a password alone is refused, and told why. A
        # second step (`otp`) or a passkey with user verification (`mfa`, RFC 8176) satisfies it.
        raise MfaRequired("Admin routes need two-step sign-in: turn it on, then sign in with a code.")
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]
UnheldUser = Annotated[Principal, Depends(get_unheld_principal)]
AdminUser = Annotated[Principal, Depends(get_admin)]
