"""Settings: every configuration value of API.md, from the environment or a `.env` file."""

from __future__ import annotations

import os
import re
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
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


# OIDC_PROVIDERS names: the variables of each are OIDC_<NAME>_… in upper case.
PROVIDER_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
DEFAULT_OIDC_SCOPES = "openid email profile"


class OidcProviderSettings(BaseModel):
    """One provider of OIDC_PROVIDERS, from its OIDC_<NAME>_* variables."""

    model_config = ConfigDict(frozen=True)

    name: str
    # Missing ones leave the provider unusable (its start answers 503), never shop unable to start.
    issuer: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scopes: str = DEFAULT_OIDC_SCOPES
    display_name: str | None = None

    @property
    def label(self) -> str:
        return self.display_name or self.name.replace("_", " ").title()


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
    # Unset: http://localhost:<the port of `shop serve`> (see `public_url_for_port`).
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
    # `Domain` of cookie mode's cookies (`example.com`: an SPA on app.example.com reads the CSRF cookie
    # of shop on api.example.com); unset, they are host-only.
    cookie_domain: str | None = None
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

    # Other providers (OpenID Connect). Each name's OIDC_<NAME>_* variables become its entry of
    # `oidc_provider_settings` (see `_oidc_providers`).
    oidc_providers: Annotated[list[str], NoDecode] = []
    oidc_provider_settings: dict[str, OidcProviderSettings] = {}
    oidc_callback_base: str | None = None
    oidc_redirect_allowlist: Annotated[list[str], NoDecode] = []
    # Per client address: the starts and exchanges of provider sign-ins share one budget.
    rate_limit_oidc: str = "30/5minutes"
    # How long discovery metadata and keys are kept before they are read again, and how long a
    # request to a provider may take.
    oidc_metadata_ttl_seconds: int = Field(default=3600, ge=1)
    oidc_timeout_seconds: float = Field(default=10.0, gt=0)
    # An account without a password confirms a sensitive act by having signed in this recently.
    reauth_max_age_seconds: int = Field(default=300, ge=1)

    password_min_length: int = Field(default=8, ge=1, le=128)
    argon2_memory_cost: int = Field(default=19456, ge=8)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)

    base_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    # `strict`: an address follows its country's rules; `off`: lengths and the country code only.
    address_validation: Literal["strict", "off"] = "strict"
    # Where `shop import-rates --ecb` and the daily import read the ECB's reference rates.
    ecb_rates_url: str = Field(
        default="https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml", min_length=8, max_length=2048
    )
    rates_auto_import: bool = False
    data_dir: Path = Path(".data")
    web_concurrency: int = Field(default=1, ge=1)
    db_pool_size: int = Field(default=20, ge=1)
    log_level: str = "INFO"
    mail_poll_seconds: float = Field(default=2.0, gt=0)
    mail_retry_base_seconds: float = Field(default=2.0, gt=0)
    max_body_bytes: int = Field(default=65536, ge=1)
    # /metrics: with a token, only `Authorization: Bearer <token>`; without, public in development and
    # test, and in production only when METRICS_PUBLIC=true (sign-in and mail counters would tell
    # strangers which accounts exist).
    metrics_token: SecretStr | None = None
    metrics_public: bool = False
    # On SIGTERM: how long requests under way may take to finish before they are cut off.
    shutdown_grace_seconds: int = Field(default=20, ge=0)

    # Webhooks: a 2xx within the timeout is delivered; otherwise tried again after each delay of the
    # schedule (seconds), then failed. Targets must be https in production, and public addresses.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_schedule: Annotated[list[float], NoDecode] = [5, 300, 1800, 7200, 18000, 36000, 36000]
    webhook_allow_insecure: bool = False
    webhook_allow_private_targets: bool = False
    # How often an idle dispatcher looks for due deliveries; how many it sends at once in all and
    # to one endpoint (per process): a slow receiver holds its own slots only.
    webhook_poll_seconds: float = Field(default=0.5, gt=0)
    webhook_concurrency: int = Field(default=64, ge=1)
    webhook_endpoint_concurrency: int = Field(default=16, ge=1)
    # Delivered and failed messages (they hold personal data) are purged after this.
    webhook_retention_days: int = Field(default=30, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _oidc_providers(cls, data: object) -> object:
        """OIDC_<NAME>_ISSUER, _CLIENT_ID, _CLIENT_SECRET, _SCOPES, _DISPLAY_NAME of every name of
        OIDC_PROVIDERS, from the environment or (as other settings) the `.env` file and the
        arguments. Their names depend on OIDC_PROVIDERS, so no field can declare them."""
        if not isinstance(data, dict):
            return data
        names = _split_csv(data.get("oidc_providers") or os.environ.get("OIDC_PROVIDERS") or [])
        if not isinstance(names, list) or "oidc_provider_settings" in data:
            return data
        given = {str(key).lower(): value for key, value in data.items()}
        environment = {key.lower(): value for key, value in os.environ.items() if key[:5].upper() == "OIDC_"}
        providers: dict[str, dict[str, object]] = {}
        for listed in names:
            name = str(listed).strip()
            if not PROVIDER_NAME.fullmatch(name):
                raise ValueError(
                    f"OIDC_PROVIDERS: {name!r} is not a provider name (lower-case letters, digits, _)"
                )
            entry: dict[str, object] = {"name": name}
            for part in ("issuer", "client_id", "client_secret", "scopes", "display_name"):
                key = f"oidc_{name}_{part}"
                value = environment.get(key, given.get(key))
                if value not in (None, ""):
                    entry[part] = value
            providers[name] = entry
        return {**data, "oidc_providers": names, "oidc_provider_settings": providers}

    @field_validator(
        "cors_origins",
        "trusted_proxies",
        "webhook_retry_schedule",
        "oidc_redirect_allowlist",
        "webauthn_origins",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _delays(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("delays are seconds >= 0, comma-separated (5,300,1800)")
        return value

    @field_validator("cookie_domain")
    @classmethod
    def _bare_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        domain = value.strip().lower().lstrip(".")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", domain):
            raise ValueError("COOKIE_DOMAIN is a host name such as example.com (no scheme, port or path)")
        return domain

    @field_validator(
        "jwt_issuer",
        "jwt_key_rotation_days",
        "metrics_token",
        "cookie_domain",
        "webauthn_rp_id",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_origin(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("'*' is refused: list the origins the SPA is served from")
        return value

    @field_validator(
        "rate_limit_register", "rate_limit_login", "rate_limit_email", "rate_limit_oidc", "rate_limit_passkey"
    )
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
    def metrics_open(self) -> bool:
        """Whether /metrics answers without a token (when METRICS_TOKEN is unset)."""
        return self.environment != "production" or self.metrics_public

    @property
    def oidc_callback_url_base(self) -> str:
        """Where providers send the browser back: OIDC_CALLBACK_BASE, else PUBLIC_URL."""
        return (self.oidc_callback_base or self.public_url).rstrip("/")

    @property
    def oidc_redirect_prefixes(self) -> list[str]:
        """Where a provider sign-in may send the browser back: OIDC_REDIRECT_ALLOWLIST, else the
        origins of PUBLIC_URL and CORS_ORIGINS, each followed by `/`."""
        if self.oidc_redirect_allowlist:
            return list(self.oidc_redirect_allowlist)
        origins = [_origin(self.public_url), *(_origin(origin) for origin in self.cors_origins)]
        return [f"{origin}/" for origin in dict.fromkeys(origins) if origin]

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
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


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


DEFAULT_PORT = 8000


def public_url_for_port(settings: Settings, port: int) -> str | None:
    """PUBLIC_URL when it is not configured follows the port `shop serve` listens on (links in mail
    and the token issuer of `shop serve --port 9000` say :9000); None when it is configured."""
    if "public_url" in settings.model_fields_set:
        return None
    return f"http://localhost:{port}"


# Where the workers of one `shop serve` share their hashing slots (`shop.auth.passwords`): set by
# `shop serve` for its workers, never by an operator.
HASHING_SLOTS_ENV = "SHOP_HASHING_SLOTS_DIR"


def pass_to_workers(
    *,
    database_url: str,
    web_concurrency: int,
    public_url: str | None = None,
    hashing_slots_dir: str | None = None,
) -> None:
    """Server workers are separate processes that read their settings afresh from the environment:
    hand them what the parent decided (the embedded database's URL, how many workers share the
    machine, the public URL that follows the port, where they share their hashing slots). `shop
    serve` also sets PROMETHEUS_MULTIPROC_DIR, earlier, for prometheus_client itself."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["WEB_CONCURRENCY"] = str(web_concurrency)
    if public_url is not None:
        os.environ["PUBLIC_URL"] = public_url
    if hashing_slots_dir is not None:
        os.environ[HASHING_SLOTS_ENV] = hashing_slots_dir
    get_settings.cache_clear()
