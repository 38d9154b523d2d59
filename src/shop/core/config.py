"""Settings: every configuration value of API.md, from the environment or a `.env` file."""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["development", "test", "production"]

SmtpTls = Literal["starttls", "tls", "none"]

MIN_SECRET_LENGTH = 32

# Every sample JWT_SECRET_KEY the project has ever shown in its README, docs, compose.yaml or .env
# examples: anyone can read them, so production refuses them (tests/core/test_safe_defaults.py
# fails when a doc shows a literal key missing here).
SAMPLE_SECRET_KEYS = frozenset(
    {
        "change-me-to-a-long-random-secret-of-48-chars!!",
    }
)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    environment: Environment = "development"
    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret_key: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "EdDSA", "ES256", "RS256"] = "HS256"
    public_url: str = "http://localhost:8000"
    jwt_issuer: str | None = None
    jwt_audience: str = Field(default="shop", min_length=1)
    # Fractions are accepted (0.5 = every 12 hours); unset: rotation by hand only.
    jwt_key_rotation_days: float | None = Field(default=None, gt=0)

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # SMTP_TLS wins; unset, the older SMTP_STARTTLS=false still means "none" (see _smtp_tls).
    smtp_tls: SmtpTls | None = None
    smtp_starttls: bool | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "shop <no-reply@localhost>"

    cors_origins: Annotated[list[str], NoDecode] = []
    # SPA cookie mode: the refresh token travels as an HttpOnly cookie, the only case in which CORS
    # allows credentials.
    refresh_cookie: bool = False
    trusted_proxies: Annotated[list[str], NoDecode] = []

    rate_limit_enabled: bool = True
    rate_limit_register: str = "3/5minutes"
    rate_limit_login: str = "5/5minutes"
    rate_limit_email: str = "3/hour"
    # Passkey sign-in: its options and the sign-in itself share this per-address budget.
    rate_limit_passkey: str = "30/5minutes"

    # Passkeys' relying party. Unset: the host of PUBLIC_URL, and the origins of PUBLIC_URL and
    # CORS_ORIGINS (see `webauthn_relying_party_id`, `webauthn_accepted_origins`).
    webauthn_rp_id: str | None = None
    webauthn_rp_name: str = Field(default="shop", min_length=1, max_length=64)
    webauthn_origins: Annotated[list[str], NoDecode] = []

    lockout_threshold: int = Field(default=5, ge=1)
    lockout_base_seconds: int = Field(default=900, ge=1)
    lockout_max_seconds: int = Field(default=86400, ge=1)

    access_token_ttl_seconds: int = Field(default=3600, ge=1)
    refresh_token_ttl_seconds: int = Field(default=2592000, ge=1)
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0)
    verify_token_ttl_seconds: int = Field(default=86400, ge=1)
    reset_token_ttl_seconds: int = Field(default=3600, ge=1)
    # No session outlives its login by more than this, however often it is refreshed (ASVS 7.3.2).
    session_max_lifetime_seconds: int = Field(default=7776000, ge=1)
    # Ended sessions, refresh tokens, login challenges and email tokens are purged after this.
    session_retention_days: int = Field(default=30, ge=1)

    # The name authenticator apps show next to the account's email.
    mfa_issuer: str = Field(default="shop", min_length=1, max_length=64)
    # Admin routes need a second step. Unset: true in production, false elsewhere (see `admin_needs_mfa`).
    admin_mfa_required: bool | None = None

    password_min_length: int = Field(default=8, ge=1, le=128)
    argon2_memory_cost: int = Field(default=19456, ge=8)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)

    base_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    data_dir: Path = Path(".data")
    web_concurrency: int = Field(default=1, ge=1)
    db_pool_size: int = Field(default=20, ge=1)
    log_level: str = "INFO"
    mail_poll_seconds: float = Field(default=2.0, gt=0)
    mail_retry_base_seconds: float = Field(default=2.0, gt=0)
    max_body_bytes: int = Field(default=65536, ge=1)
    # On SIGTERM: how long requests under way may take to finish before they are cut off.
    shutdown_grace_seconds: int = Field(default=20, ge=0)

    @field_validator("cors_origins", "trusted_proxies", "webauthn_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("jwt_issuer", "jwt_key_rotation_days", "webauthn_rp_id", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("'*' is refused: list the origins the SPA is served from")
        return value

    @field_validator("rate_limit_register", "rate_limit_login", "rate_limit_email", "rate_limit_passkey")
    @classmethod
    def _limit_string(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit string like '3/5minutes': {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.startswith(("postgres://", "postgresql://")):
            # Accept the common libpq form and pick the async driver ourselves.
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a postgresql+asyncpg:// URL")
        return value

    @model_validator(mode="after")
    def _smtp_tls(self) -> Settings:
        if self.smtp_tls is None:
            self.smtp_tls = "none" if self.smtp_starttls is False else "starttls"
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.environment == "production":
            key = self.jwt_secret_key.get_secret_value() if self.jwt_secret_key else ""
            if len(key) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"JWT_SECRET_KEY must be set to at least {MIN_SECRET_LENGTH} characters "
                    "when ENVIRONMENT=production"
                )
            if key.strip() in SAMPLE_SECRET_KEYS:
                raise ValueError(
                    "JWT_SECRET_KEY is a sample key from shop's own docs: generate a random one "
                    "(e.g. `openssl rand -base64 48`)"
                )
            if self.smtp_tls == "none" and self.smtp_username:
                raise ValueError(
                    "SMTP_TLS=none with SMTP_USERNAME would send the SMTP password in clear text: "
                    "use SMTP_TLS=starttls or tls when ENVIRONMENT=production"
                )
        if self.lockout_max_seconds < self.lockout_base_seconds:
            raise ValueError("LOCKOUT_MAX_SECONDS must not be below LOCKOUT_BASE_SECONDS")
        return self

    @property
    def issuer(self) -> str:
        """`iss` of access tokens and the RFC 8414 `issuer`: JWT_ISSUER, else PUBLIC_URL."""
        return (self.jwt_issuer or self.public_url).rstrip("/")

    @property
    def webauthn_relying_party_id(self) -> str:
        """WEBAUTHN_RP_ID, else the host of PUBLIC_URL (a domain, never with its port)."""
        return self.webauthn_rp_id or (urlsplit(self.public_url).hostname or "localhost")

    @property
    def webauthn_accepted_origins(self) -> list[str]:
        """Where a passkey response may come from: WEBAUTHN_ORIGINS, else the origin of PUBLIC_URL
        and each of CORS_ORIGINS (an origin is scheme, host and port, with no path)."""
        if self.webauthn_origins:
            return [origin.rstrip("/") for origin in self.webauthn_origins]
        origins = [_origin(self.public_url), *(_origin(origin) for origin in self.cors_origins)]
        return list(dict.fromkeys(origins))

    @property
    def admin_needs_mfa(self) -> bool:
        """ADMIN_MFA_REQUIRED, or its default: on in production."""
        if self.admin_mfa_required is None:
            return self.environment == "production"
        return self.admin_mfa_required

    def signing_key(self) -> str:
        """The root secret (JWT_SECRET_KEY): configured, or (outside production) one generated once
        under DATA_DIR. auth signs access tokens with it; SecretBox derives its keys from it."""
        if self.jwt_secret_key is not None:
            return self.jwt_secret_key.get_secret_value()
        return _development_key(self.data_dir)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def pass_to_workers(*, database_url: str, web_concurrency: int) -> None:
    """Server workers are separate processes that read their settings afresh from the environment:
    hand them what the parent decided (the embedded database's URL, how many workers share the
    machine). The one write to os.environ."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["WEB_CONCURRENCY"] = str(web_concurrency)
    get_settings.cache_clear()
