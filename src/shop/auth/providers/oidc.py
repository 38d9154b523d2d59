"""The relying party's side of OpenID Connect towards each configured provider, done by Authlib:
discovery (cached), the authorization URL with PKCE and a nonce, the code exchange, and the ID
token's verification (joserfc's signature check with the provider's published keys, refreshed once
for an unknown `kid`; Authlib's ID token claims rules for `iss`, `aud`, `azp`, `exp`, `nonce`).

Nothing here runs at start: a provider that is down or misconfigured is met by its first sign-in,
which answers 503 until its metadata can be read — the other ways to sign in never notice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from shop.auth.errors import ProviderUnavailable
from shop.core.config import OidcProviderSettings, Settings
from shop.core.secretbox import SecretBox

# Authlib and joserfc (about 150 modules, 1.5 MB of every worker) are imported by the first sign-in
# with a provider, which few workers ever serve, and never where no provider is configured.
if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from joserfc.jwk import KeySet

logger = logging.getLogger("shop.auth.providers")

# Signature algorithms accepted for ID tokens: asymmetric ones only (never `none`, never a MAC).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
# OpenID Connect Core 3.1.3.7: `iat` no older than this, and the clock skew allowed on `exp`/`iat`.
ID_TOKEN_MAX_AGE_SECONDS = 300
CLOCK_SKEW_SECONDS = 60
# After a failed read of the metadata, the next sign-in tries again only after this long.
RETRY_AFTER_FAILURE_SECONDS = 5.0
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class ProviderAnswerInvalid(Exception):
    """The provider answered wrongly: the code exchange failed or the ID token did not verify."""


def is_allowed_endpoint(url: str) -> bool:
    """HTTPS, or plain HTTP to this machine (a provider run locally, the tests')."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


@dataclass
class _Cached:
    metadata: dict[str, Any] | None = None
    keys: dict[str, Any] | None = None
    fetched_at: float = 0.0
    failed_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class OidcProvider:
    """One provider of OIDC_PROVIDERS. Its metadata and keys are kept for `metadata_ttl` seconds."""

    def __init__(
        self,
        config: OidcProviderSettings,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.display_name = config.label
        self.redirect_uri = f"{settings.oidc_callback_url_base}/api/v1/auth/oidc/{config.name}/callback"
        self.timeout = httpx.Timeout(settings.oidc_timeout_seconds)
        self.metadata_ttl = settings.oidc_metadata_ttl_seconds
        self.scopes = config.scopes
        self._transport = transport
        self._cache = _Cached()

    @property
    def issuer(self) -> str:
        return (self.config.issuer or "").rstrip("/")

    def _http(self) -> httpx.AsyncClient:
        # Redirects are not followed: a provider's endpoints answer where discovery says they are.
        return httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, transport=self._transport)

    def _oauth(self) -> AsyncOAuth2Client:
        # Authlib's own filter (it shows its deprecations "always") first, else it would land
        # in front of ours.
        import authlib.deprecate  # noqa: F401

        with warnings.catch_warnings():
            # Authlib would rather use a fork of httpx; it still supports httpx, which shop uses throughout.
            warnings.filterwarnings("ignore", message="The httpx module is deprecated")
            from authlib.integrations.httpx_client import AsyncOAuth2Client

        secret = self.config.client_secret.get_secret_value() if self.config.client_secret else None
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=secret,
            # A public client (no secret) authenticates by its PKCE verifier alone.
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=self.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=self.timeout,
            follow_redirects=False,
            transport=self._transport,
        )

    # -- discovery ---------------------------------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery metadata, read from `{issuer}/.well-known/openid-configuration`
        and kept; ProviderUnavailable while it cannot be read or is not fit to use."""
        cache = self._cache
        now = time.monotonic()
        if cache.metadata is not None and now - cache.fetched_at < self.metadata_ttl:
            return cache.metadata
        async with cache.lock:
            now = time.monotonic()
            if cache.metadata is not None and now - cache.fetched_at < self.metadata_ttl:
                return cache.metadata
            if cache.failed_at and now - cache.failed_at < RETRY_AFTER_FAILURE_SECONDS:
                if cache.metadata is not None:
                    return cache.metadata  # a stale copy beats none while the provider is away
                raise ProviderUnavailable()
            try:
                metadata = await self._discover()
            except (httpx.HTTPError, ValueError) as exc:
                cache.failed_at = now
                logger.warning(
                    "provider metadata unavailable", extra={"provider": self.name, "error": str(exc)[:200]}
                )
                if cache.metadata is not None:
                    return cache.metadata
                raise ProviderUnavailable() from None
            cache.metadata, cache.fetched_at, cache.failed_at = metadata, now, 0.0
            cache.keys = None  # read again with the metadata
            return metadata

    async def _discover(self) -> dict[str, Any]:
        if not self.config.issuer or not self.config.client_id:
            raise ValueError("OIDC_<NAME>_ISSUER and OIDC_<NAME>_CLIENT_ID are both needed")
        if not is_allowed_endpoint(self.issuer):
            raise ValueError("the issuer must be an https URL")
        async with self._http() as http:
            response = await http.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            metadata = response.json()
        if not isinstance(metadata, dict):
            raise ValueError("the metadata is not a JSON object")
        # OpenID Connect Discovery 4.3: the metadata's issuer is exactly the one configured.
        if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
            raise ValueError(f"the metadata names another issuer: {metadata.get('issuer')!r}")
        for member in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = metadata.get(member)
            if not isinstance(value, str) or not is_allowed_endpoint(value):
                raise ValueError(f"the metadata's {member} is missing or not https")
        return metadata

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        from joserfc.jwk import KeySet

        cache = self._cache
        metadata = await self.metadata()
        if cache.keys is None or refresh:
            async with self._http() as http:
                response = await http.get(metadata["jwks_uri"])
                response.raise_for_status()
                cache.keys = response.json()
        return KeySet.import_key_set(cache.keys)  # type: ignore[arg-type]

    # -- the flow ----------------------------------------------------------------------------------

    async def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        metadata = await self.metadata()
        async with self._oauth() as oauth:
            url, _ = oauth.create_authorization_url(
                metadata["authorization_endpoint"], state=state, code_verifier=code_verifier, nonce=nonce
            )
        return str(url)

    async def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        """Trade the provider's code for its tokens (with our PKCE verifier)."""
        metadata = await self.metadata()
        try:
            async with self._oauth() as oauth:
                token = await oauth.fetch_token(
                    metadata["token_endpoint"],
                    code=code,
                    code_verifier=code_verifier,
                    grant_type="authorization_code",
                )
        except Exception as exc:  # Authlib raises its OAuthError, httpx its own, a bad body ValueError
            raise ProviderAnswerInvalid(f"token exchange failed: {type(exc).__name__}: {exc}"[:300]) from exc
        if not isinstance(token, dict) or not isinstance(token.get("id_token"), str):
            raise ProviderAnswerInvalid("the token response carries no id_token")
        return dict(token)

    async def verify_id_token(self, token: dict[str, Any], nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature and claims are checked (OIDC Core 3.1.3.7)."""
        from authlib.oidc.core import CodeIDToken
        from joserfc import jwt
        from joserfc.errors import InvalidKeyIdError, JoseError
        from joserfc.jws import JWSRegistry

        metadata = await self.metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in offered if alg in ID_TOKEN_ALGORITHMS]
        registry = JWSRegistry(algorithms=algorithms)
        try:
            try:
                decoded = jwt.decode(token["id_token"], await self._key_set(), registry=registry)
            except InvalidKeyIdError:
                # A key we do not know yet: the provider rotated. Read its keys again, once.
                decoded = jwt.decode(token["id_token"], await self._key_set(refresh=True), registry=registry)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.config.client_id or ""},
                },
                {
                    "nonce": nonce,
                    "client_id": self.config.client_id,
                    "access_token": token.get("access_token"),
                },
            )
            claims.validate(leeway=CLOCK_SKEW_SECONDS)
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise ProviderAnswerInvalid(
                f"the ID token did not verify: {type(exc).__name__}: {exc}"[:300]
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderAnswerInvalid("the provider's keys could not be read") from exc
        return _fresh_with_subject(dict(claims))


def _fresh_with_subject(claims: dict[str, Any]) -> dict[str, Any]:
    """`claims`, when the token was issued lately and names a subject shop can store."""
    issued_at = claims.get("iat")
    if (
        not isinstance(issued_at, int | float)
        or time.time() - issued_at > ID_TOKEN_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS
    ):
        raise ProviderAnswerInvalid("the ID token was issued too long ago")
    if not isinstance(claims.get("sub"), str) or not 0 < len(claims["sub"]) <= 255:
        raise ProviderAnswerInvalid("the ID token's sub is missing or too long")
    return claims


def s256(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 4.2), as Authlib computes it."""
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    return str(create_s256_code_challenge(verifier))


class OidcProviders:
    """Every configured provider by name, built from the settings; touches no network when built."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # Seals the PKCE verifiers of sign-ins under way (a key of their own, from JWT_SECRET_KEY).
        self.box = SecretBox(settings.signing_key(), "oidc-code-verifier")
        self._providers = {
            name: OidcProvider(config, settings, transport)
            for name, config in settings.oidc_provider_settings.items()
        }

    def get(self, name: str) -> OidcProvider | None:
        return self._providers.get(name)

    def listing(self) -> list[OidcProvider]:
        return list(self._providers.values())
