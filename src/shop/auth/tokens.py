"""Access tokens belong to auth: it holds the signing key, mints the JWTs, and verifies them for the
kernel's bearer guard (as `shop.core.security.AccessTokenVerifier`, plugged in by `shop.bootstrap`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from shop.core.config import Settings
from shop.core.errors import TokenExpired, TokenInvalid
from shop.core.security import AccessClaims

LEEWAY_SECONDS = 1


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


class AccessTokens:
    """Mints and verifies access tokens (HS256/384/512 with one key)."""

    def __init__(self, key: str, algorithm: str, ttl_seconds: int) -> None:
        self._key = key
        self._algorithm = algorithm
        self.ttl_seconds = ttl_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessTokens:
        return cls(settings.signing_key(), settings.jwt_algorithm, settings.access_token_ttl_seconds)

    def issue(
        self, user_id: uuid.UUID, session_id: uuid.UUID, *, amr: Sequence[str] = ("pwd",)
    ) -> AccessToken:
        """`amr` (RFC 8176): how the session began — `pwd`, plus `otp` after a second step."""
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "type": "access",
            "amr": list(amr),
        }
        return AccessToken(jwt.encode(claims, self._key, algorithm=self._algorithm), self.ttl_seconds)

    def verify(self, token: str) -> AccessClaims:
        """Check signature, expiry and type; raise TokenExpired or TokenInvalid."""
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
        try:
            return AccessClaims(uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"])), claims)
        except ValueError as exc:
            raise TokenInvalid() from exc
