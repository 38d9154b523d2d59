"""Bearer guards. The token travels in the Authorization header; it is minted and checked here as a
JWT; whether its session is still live is asked of a `SessionValidator` that auth plugs in at startup
(so users and localization need nothing from auth, and the kernel knows no context)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.config import Settings
from shop.core.db import SessionDep
from shop.core.errors import (
    Forbidden,
    MfaRequired,
    NotAuthenticated,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
)

Role = Literal["customer", "admin"]
LEEWAY_SECONDS = 1


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, the session of the access token, the role, and how the user
    signed in (`amr`: `pwd`, plus `otp` after a second step)."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    amr: tuple[str, ...] = ("pwd",)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class SessionValidator(Protocol):
    """Answers: is this session live and its user existing and active? Returns the role, or None."""

    async def __call__(
        self, session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


class TokenCodec:
    def __init__(self, settings: Settings) -> None:
        self._key = settings.signing_key()
        self._algorithm = settings.jwt_algorithm
        self._ttl = settings.access_token_ttl_seconds

    def issue_access(
        self, user_id: uuid.UUID, session_id: uuid.UUID, amr: Sequence[str] = ("pwd",)
    ) -> AccessToken:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + timedelta(seconds=self._ttl),
            "type": "access",
            "amr": list(amr),
        }
        return AccessToken(jwt.encode(claims, self._key, algorithm=self._algorithm), self._ttl)

    def decode_access(self, token: str) -> tuple[uuid.UUID, uuid.UUID, tuple[str, ...]]:
        """Check signature, expiry and type; return (user id, session id, amr)."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],  # one algorithm: no `none`, no confusion attacks
                leeway=LEEWAY_SECONDS,
                options={"require": ["sub", "sid", "exp", "iat", "jti", "type"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.PyJWTError as exc:
            raise TokenInvalid() from exc
        if claims.get("type") != "access":
            raise TokenInvalid()
        amr = claims.get("amr", ["pwd"])
        if not isinstance(amr, list) or not all(isinstance(method, str) for method in amr):
            raise TokenInvalid()
        try:
            return uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"])), tuple(amr)
        except ValueError as exc:
            raise TokenInvalid() from exc


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
    codec: TokenCodec = request.app.state.token_codec
    user_id, session_id, amr = codec.decode_access(credentials.credentials)
    validator: SessionValidator = request.app.state.session_validator
    role = await validator(session, user_id, session_id)
    if role is None:
        raise TokenRevoked()
    return Principal(user_id=user_id, session_id=session_id, role=role, amr=amr)


async def get_admin(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This needs the admin role.")
    settings: Settings = request.app.state.settings
    if settings.admin_needs_mfa and "otp" not in principal.amr:
        # ADMIN_MFA_REQUIRED: an admin signed in with a password alone is refused, and told why.
        raise MfaRequired("Admin routes need two-step sign-in: turn it on, then sign in with a code.")
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]
AdminUser = Annotated[Principal, Depends(get_admin)]
