"""Access tokens belong to auth: it holds the signing key, mints the JWTs, and verifies them for the
kernel's bearer guard (as `shop.core.security.AccessTokenVerifier`, plugged in by `shop.bootstrap`)."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


def signing_key(settings: Settings) -> str:
    """The JWT key: configured, or (outside production) one generated once under DATA_DIR."""
    if settings.jwt_secret_key is not None:
        return settings.jwt_secret_key.get_secret_value()
    return _development_key(settings.data_dir)


def _read_key(path: Path) -> str | None:
    # A worker may see the file between its creation and its write: wait for the content.
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    return None


def _development_key(data_dir: Path) -> str:
    path = data_dir / "jwt-secret.key"
    if path.exists() and (key := _read_key(path)):
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        # O_EXCL: two workers starting at once agree on the first key written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = _read_key(path)
        if existing is None:
            raise RuntimeError(f"{path} is empty: delete it to generate a new development key") from None
        return existing
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


class AccessTokens:
    """Mints and verifies access tokens (HS256/384/512 with one key)."""

    def __init__(self, key: str, algorithm: str, ttl_seconds: int) -> None:
        self._key = key
        self._algorithm = algorithm
        self.ttl_seconds = ttl_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessTokens:
        return cls(signing_key(settings), settings.jwt_algorithm, settings.access_token_ttl_seconds)

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID) -> AccessToken:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "type": "access",
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
