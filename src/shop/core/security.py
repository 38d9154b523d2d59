"""Bearer guards. The token travels in the Authorization header; auth checks it (an
`AccessTokenVerifier`) and says whether its session is still live (a `SessionValidator`), both
plugged in at startup (so users and localization need nothing from auth, and the kernel knows no
context)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.db import SessionDep
from shop.core.errors import Forbidden, NotAuthenticated, TokenRevoked

Role = Literal["customer", "admin"]
LEEWAY_SECONDS = 1


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, the session of the access token, and the role."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class SessionValidator(Protocol):
    """Answers: is this session live and its user existing and active? Returns the role, or None."""

    async def __call__(
        self, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> str | None: ...


class VerifiedToken(Protocol):
    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def session_id(self) -> uuid.UUID: ...


class AccessTokenVerifier(Protocol):
    """Checks an access token (raising TokenInvalid or TokenExpired); may read keys through the
    request's session."""

    async def verify(self, session: AsyncSession, token: str) -> VerifiedToken: ...


# auto_error=False: a missing header is our own 401 problem, not the framework's 403.
_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login.")
# Declares the password flow in OpenAPI so Swagger UI's Authorize button can sign in.
_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _: Annotated[str | None, Depends(_oauth2)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated()
    tokens: AccessTokenVerifier = request.app.state.access_tokens
    verified = await tokens.verify(session, credentials.credentials)
    user_id, session_id = verified.user_id, verified.session_id
    validator: SessionValidator = request.app.state.session_validator
    role = await validator(session, user_id, session_id)
    if role is None:
        raise TokenRevoked()
    return Principal(user_id=user_id, session_id=session_id, role=role)


async def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This needs the admin role.")
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]
AdminUser = Annotated[Principal, Depends(get_admin)]
