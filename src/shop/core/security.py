"""Bearer guards. The token travels in the Authorization header. The kernel neither mints nor knows
the token format: it asks a `BearerGuard` — an `AccessTokenVerifier` and a `SessionValidator` that
auth plugs in at startup (`shop.bootstrap`) — so users and localization need nothing from auth, and
the kernel knows no context."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.db import SessionDep, is_read_session
from shop.core.errors import Forbidden, NotAuthenticated, TokenRevoked
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


class SignedInAccount(Protocol):
    """The account of a live session, as the context that owns accounts reads it (a typed row):
    the guard needs its role; the owning context may answer with the rest."""

    @property
    def role(self) -> str: ...


class SessionValidator(Protocol):
    """Answers: is this session live and its user existing and active? Returns the user's account
    as the context that owns accounts shows it — with at least its `role` — or None.

    `hold`: the request writes — keep the account from being deleted until the request's
    transaction ends, so nothing it writes can outlive a deletion that began meanwhile."""

    async def __call__(
        self, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, *, hold: bool = False
    ) -> SignedInAccount | None: ...


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """What the context that signs users in tells the guard at startup: where a client gets a token
    (shown in the OpenAPI document's security schemes, so Swagger UI's Authorize button can sign
    in) and any further rule an admin must meet (it raises to refuse). The kernel holds none of it."""

    token_url: str = ""
    bearer_description: str | None = None
    admin_rule: Callable[[Principal], None] | None = None


@dataclass(frozen=True, slots=True)
class BearerGuard:
    tokens: AccessTokenVerifier
    sessions: SessionValidator
    policy: GuardPolicy = field(default_factory=GuardPolicy)


def install_guard(app: FastAPI, guard: BearerGuard) -> None:
    app.state.bearer_guard = guard
    # The app's one pair of security schemes (the dependencies below) describes where tokens come
    # from as the policy says: the OpenAPI document reads them when it is built.
    _bearer.model.description = guard.policy.bearer_description
    if isinstance(_oauth2.model, OAuth2Model) and _oauth2.model.flows.password is not None:
        _oauth2.model.flows.password.tokenUrl = guard.policy.token_url


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, the session of the access token, the role, the token's claims, and
    the account the guard read to let the request in (what `SessionValidator` returned)."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    account: SignedInAccount
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def amr(self) -> tuple[str, ...]:
        """How the user signed in: the token's `amr` claim (RFC 8176 method names)."""
        methods = self.claims.get("amr")
        if not isinstance(methods, list):
            return ()
        return tuple(method for method in methods if isinstance(method, str))


# auto_error=False: a missing header is our own 401 problem, not the framework's 403. Where the
# token comes from is the guard's policy (`install_guard`).
_bearer = HTTPBearer(auto_error=False)
# Declares the password flow in OpenAPI so Swagger UI's Authorize button can sign in.
_oauth2 = OAuth2PasswordBearer(tokenUrl="", auto_error=False)


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
    return Principal(verified.user_id, verified.session_id, account.role, account, verified.claims)


async def get_principal(
    request: Request, session: SessionDep, credentials: Credentials, _: OAuth2Flow
) -> Principal:
    # A writing request holds its account (one statement still): a deletion waits for it to end,
    # and a request that starts during a deletion finds the account gone once it commits. A route
    # that only reads (its session is the read session) holds nothing.
    return await _principal(request, session, credentials, hold=not is_read_session(session))


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
    guard: BearerGuard = request.app.state.bearer_guard
    if guard.policy.admin_rule is not None:
        guard.policy.admin_rule(principal)
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]
UnheldUser = Annotated[Principal, Depends(get_unheld_principal)]
AdminUser = Annotated[Principal, Depends(get_admin)]
