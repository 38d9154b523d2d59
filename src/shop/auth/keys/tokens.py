"""Access tokens belong to auth: it holds the signing keys, mints the JWTs, and verifies them for the
kernel's bearer guard (as `shop.core.security.AccessTokenVerifier`, plugged in by `shop.bootstrap`).

With HS256 the key is `JWT_SECRET_KEY` itself. With EdDSA, ES256 or RS256 the key pairs live in the
database (`auth.signing_keys`, private halves sealed by a SecretBox), shared by every instance; each
instance holds a `KeyRing`, a snapshot of them that it reloads when it is older than
`RELOAD_SECONDS`, so every instance signs with a new active key within 10 s of a rotation.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.errors import NoSigningKey
from shop.auth.keys.material import hs256_kid, is_asymmetric, key_box, load_private_pem
from shop.auth.keys.repository import SigningKeyRepository
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.errors import TokenExpired, TokenInvalid
from shop.core.secretbox import SecretBoxError
from shop.core.security import AccessClaims

LEEWAY_SECONDS = 1
# How old this instance's view of the keys may grow before it reads them again. API.md promises
# that every instance signs with a new active key within 10 s of a rotation.
RELOAD_SECONDS = 5.0
PROPAGATION_SECONDS = 10
# A token with an unknown `kid` may be signed by a key made a moment ago by another instance: read
# the keys again, but at most this often, so junk tokens cannot turn into database load.
UNKNOWN_KID_RELOAD_SECONDS = 1.0
# A rotation made here is committed a moment after it invalidates the ring: a reload in that moment
# still reads the old keys, so it counts as fresh only until this long after the change.
CHANGE_SETTLE_SECONDS = 1.0

logger = logging.getLogger("shop.auth.keys")


# --- what one instance knows ----------------------------------------------------------------------


class StoredKey(Protocol):
    """A stored signing key as the ring reads it (an auth.signing_keys row)."""

    kid: str
    alg: str
    state: str
    public_jwk: dict[str, Any]
    private_key: bytes
    retired_at: datetime | None


@dataclass(frozen=True, slots=True)
class Signer:
    kid: str
    alg: str
    key: Any  # the HS256 secret (str) or a private key object


@dataclass(frozen=True, slots=True)
class Verifier:
    alg: str
    key: Any


@dataclass(frozen=True, slots=True)
class KeySet:
    """One consistent view of the keys: who signs, who verifies, what is published."""

    signer: Signer | None
    verifiers: dict[str, Verifier] = field(default_factory=dict)
    published: tuple[dict[str, Any], ...] = ()


def publishable(key: StoredKey, now: datetime, ttl_seconds: int) -> bool:
    """A retired key stays (published and accepted) while a token it signed may still be valid."""
    if key.state != "retired" or key.retired_at is None:
        return True
    return now < key.retired_at + retired_key_lifetime(ttl_seconds)


def retired_key_lifetime(ttl_seconds: int) -> timedelta:
    # An instance may sign with a key for up to PROPAGATION_SECONDS after it retired, and shop
    # accepts LEEWAY_SECONDS past `exp`: the key has to outlive the last such token.
    return timedelta(seconds=ttl_seconds + PROPAGATION_SECONDS + LEEWAY_SECONDS)


KeyLoader = Callable[[], Awaitable[Sequence[StoredKey]]]


class KeyRing:
    """This instance's signing keys. HS256: the shared secret, nothing to load. Otherwise a snapshot
    of the database's keys, reloaded when older than RELOAD_SECONDS or when a token names a `kid`
    it does not know; private keys are opened once per kid and kept in memory."""

    def __init__(
        self,
        algorithm: str,
        root_secret: str,
        access_ttl_seconds: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.algorithm = algorithm
        self._ttl = access_ttl_seconds
        self._box = key_box(root_secret)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._loaded_at: float | None = None
        self._changed_at: float | None = None
        self._last_unknown_reload = -UNKNOWN_KID_RELOAD_SECONDS
        self._private: dict[str, Any] = {}
        self._public: dict[str, Any] = {}
        self._unopened: set[str] = set()
        if is_asymmetric(algorithm):
            self._keys = KeySet(signer=None)
        else:
            kid = hs256_kid(root_secret)
            self._keys = KeySet(Signer(kid, algorithm, root_secret), {kid: Verifier(algorithm, root_secret)})

    @property
    def shared_secret(self) -> bool:
        return not is_asymmetric(self.algorithm)

    @property
    def shared_verifier(self) -> Verifier | None:
        """HS256: the one verifier, whatever `kid` a token names (tokens made before kids had none)."""
        return next(iter(self._keys.verifiers.values())) if self.shared_secret else None

    def still_publishes(self, published: tuple[dict[str, Any], ...]) -> bool:
        """`published` is this ring's snapshot, and no reload is due (a shared secret publishes none)."""
        return self.shared_secret or (not self._stale() and self._keys.published is published)

    def invalidate(self) -> None:
        """The keys changed (a rotation here): read them again before the next use."""
        self._loaded_at = None
        self._changed_at = self._clock()

    async def current(self, load: KeyLoader) -> KeySet:
        if self.shared_secret:
            return self._keys
        if self._stale():
            async with self._lock:
                if self._stale():  # another task may have reloaded while this one waited
                    await self._reload(load)
        return self._keys

    async def verifier_for(self, kid: str, load: KeyLoader) -> Verifier | None:
        keys = await self.current(load)
        if kid in keys.verifiers or self.shared_secret:
            return keys.verifiers.get(kid)
        async with self._lock:
            if kid not in self._keys.verifiers and (
                self._clock() - self._last_unknown_reload >= UNKNOWN_KID_RELOAD_SECONDS
            ):
                self._last_unknown_reload = self._clock()
                await self._reload(load)
        return self._keys.verifiers.get(kid)

    def _signer(self, key: StoredKey) -> Signer | None:
        if key.kid not in self._private:
            try:
                self._private[key.kid] = load_private_pem(self._box.open(key.private_key))
            except SecretBoxError:
                # Sealed under another JWT_SECRET_KEY (`shop keys rotate --new-secret` while this
                # instance ran with the old one): it still verifies every token, but signs none.
                if key.kid not in self._unopened:
                    self._unopened.add(key.kid)
                    logger.error(
                        "the active signing key does not open with this JWT_SECRET_KEY: no token can be "
                        "signed until this instance restarts with the new one",
                        extra={"kid": key.kid},
                    )
                return None
        return Signer(key.kid, key.alg, self._private[key.kid])

    def _stale(self) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= RELOAD_SECONDS

    async def _reload(self, load: KeyLoader) -> None:
        self._keys = self._key_set(await load())
        verifiers = self._keys.verifiers
        self._settle_reload()
        # Pruned keys leave memory too.
        self._private = {kid: key for kid, key in self._private.items() if kid in verifiers}
        self._public = {kid: key for kid, key in self._public.items() if kid in verifiers}

    def _key_set(self, stored: Sequence[StoredKey]) -> KeySet:
        """The keys still published (retired ones while a token they signed may live), the active
        one signing."""
        now = datetime.now(UTC)
        live = [key for key in stored if publishable(key, now, self._ttl)]
        verifiers = {key.kid: Verifier(key.alg, self._public_key(key)) for key in live}
        signer = next((self._signer(key) for key in live if key.state == "active"), None)
        return KeySet(signer, verifiers, tuple(dict(key.public_jwk) for key in live))

    def _public_key(self, key: StoredKey) -> Any:
        if key.kid not in self._public:
            self._public[key.kid] = jwt.PyJWK(dict(key.public_jwk)).key
        return self._public[key.kid]

    def _settle_reload(self) -> None:
        """The next reload is due RELOAD_SECONDS from now, or, right after a change here, once
        CHANGE_SETTLE_SECONDS have passed since it (another instance's change may follow)."""
        loaded = self._clock()
        self._loaded_at = loaded
        if self._changed_at is not None and loaded - self._changed_at < CHANGE_SETTLE_SECONDS:
            self._loaded_at = self._changed_at + CHANGE_SETTLE_SECONDS - RELOAD_SECONDS


# --- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


REQUIRED_CLAIMS = ["sub", "sid", "exp", "iat", "jti", "type", "iss", "aud"]


# Tokens this instance has already verified, by their full text (signature included, so a forgery
# can never match one): a client sends one access token with many requests, and the signature is
# the costly part of an asymmetric check. Only valid tokens enter, so junk cannot fill it.
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class _Verified:
    kid: str | None
    expires_at: float
    claims: AccessClaims


class AccessTokenCodec:
    """Mints and checks access tokens with the keys of a KeyRing."""

    def __init__(self, ring: KeyRing, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.ring = ring
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl_seconds
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    async def issue(
        self,
        load: KeyLoader,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        amr: Sequence[str] = ("pwd",),
    ) -> AccessToken:
        """`amr` (RFC 8176): how the session began — `pwd`, plus `otp` after a second step."""
        return AccessToken(self.sign(await self.signer(load), user_id, session_id, amr=amr), self.ttl)

    async def signer(self, load: KeyLoader) -> Signer:
        """The key that signs now; 503 `NoSigningKey` when there is none."""
        keys = await self.ring.current(load)
        if keys.signer is None:
            raise NoSigningKey(headers={"Retry-After": "5"})
        return keys.signer

    def sign(
        self,
        signer: Signer,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        amr: Sequence[str] = ("pwd",),
    ) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl),
            "type": "access",
            "iss": self.issuer,
            "aud": self.audience,
            "amr": list(amr),
        }
        return jwt.encode(claims, signer.key, algorithm=signer.alg, headers={"kid": signer.kid})

    async def decode(self, load: KeyLoader, token: str) -> AccessClaims:
        """Check signature, expiry, type, issuer and audience; return the claims."""
        keys = await self.ring.current(load)
        seen = self._verified.get(token)
        # A token seen before still counts while it lives and its key is still known (it may have
        # been pruned since).
        if (
            seen is not None
            and time.time() < seen.expires_at
            and (seen.kid is None or seen.kid in keys.verifiers)
        ):
            self._verified.move_to_end(token)
            return seen.claims
        verifier, kid = await self._verifier(load, token)
        claims = self.check(verifier, token)
        self._verified[token] = _Verified(kid, float(claims.claims["exp"]) + LEEWAY_SECONDS, claims)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    async def _verifier(self, load: KeyLoader, token: str) -> tuple[Verifier, str | None]:
        """The key that must have signed `token` (by its `kid`; the one secret with HS256), and that kid."""
        if self.ring.shared_secret:
            shared = self.ring.shared_verifier
            if shared is None:
                raise TokenInvalid()
            return shared, None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise TokenInvalid() from exc
        verifier = await self.ring.verifier_for(kid, load) if isinstance(kid, str) and kid else None
        if verifier is None:
            raise TokenInvalid()
        return verifier, kid

    def check(self, verifier: Verifier, token: str) -> AccessClaims:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                verifier.key,
                # The key's own algorithm, never the token's: no `none`, no HS256-with-a-public-key.
                algorithms=[verifier.alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
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


class AccessTokens:
    """What the rest of shop uses: mint and verify access tokens, publish the public keys. Each
    call takes the caller's database session, through which the key ring reloads when it must."""

    def __init__(self, ring: KeyRing, codec: AccessTokenCodec) -> None:
        self.ring = ring
        self.codec = codec

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessTokens:
        ring = KeyRing(settings.jwt_algorithm, settings.signing_key(), settings.access_token_ttl_seconds)
        codec = AccessTokenCodec(
            ring,
            issuer=settings.issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl_seconds,
        )
        return cls(ring, codec)

    @staticmethod
    def _loader(session: AsyncSession) -> KeyLoader:
        async def load() -> Sequence[StoredKey]:
            return await SigningKeyRepository(session).list_all()

        return load

    async def issue(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        amr: Sequence[str] = ("pwd",),
    ) -> AccessToken:
        """`amr` (RFC 8176): how the session began — `pwd`, plus `otp` after a second step."""
        return await self.codec.issue(self._loader(session), user_id, session_id, amr=amr)

    async def ready(self, session: AsyncSession) -> None:
        """Refuse (503 `NoSigningKey`) unless a token can be signed now: what a caller checks before a
        write that no later error undoes (a one-statement request's)."""
        await self.codec.signer(self._loader(session))

    async def verify(self, session: AsyncSession, token: str) -> AccessClaims:
        return await self.codec.decode(self._loader(session), token)

    async def published(self, session: AsyncSession) -> list[dict[str, Any]]:
        """The public JWKs: next, active, and retired ones whose tokens may still be valid."""
        return list((await self.ring.current(self._loader(session))).published)

    async def public_keys(self, database: Database) -> tuple[dict[str, Any], ...]:
        """`published`, read through a session of its own, opened only when the ring reloads: the
        same tuple (by identity) until the keys are read again."""

        async def load() -> Sequence[StoredKey]:
            async with database.read_sessions() as session:
                return await SigningKeyRepository(session).list_all()

        return (await self.ring.current(load)).published

    def still_publishes(self, published: tuple[dict[str, Any], ...]) -> bool:
        """Whether `published` (from `public_keys`) is still what the ring publishes, and is not due
        to be read again."""
        return self.ring.still_publishes(published)

    def keys_changed(self) -> None:
        self.ring.invalidate()
