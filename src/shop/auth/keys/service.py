"""Signing keys: made on first start, rotated by hand or on schedule, pruned, and published (JWKS and
the authorization server's metadata)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.errors import KeyRotationUnavailable, SigningKeysSealedElsewhere
from shop.auth.keys.material import NewKey, is_asymmetric, key_box, new_key
from shop.auth.keys.repository import SigningKeyRepository
from shop.auth.keys.tokens import AccessTokens, retired_key_lifetime
from shop.auth.models import SigningKey
from shop.auth.repository import AuditRepository
from shop.core.config import Settings
from shop.core.secretbox import SecretBoxError

logger = logging.getLogger("shop.auth")


def _by_state(keys: list[SigningKey]) -> tuple[SigningKey | None, SigningKey | None]:
    """The active key and the next key, each if there is one."""
    active = next((k for k in keys if k.state == "active"), None)
    return active, next((k for k in keys if k.state == "next"), None)


class SigningKeyService:
    """The key pairs of EdDSA/ES256/RS256: made on first start, rotated by hand or every
    JWT_KEY_ROTATION_DAYS, pruned once their last token has expired. Every change runs under one
    advisory lock, so instances never race one another into two active keys or none."""

    def __init__(self, session: AsyncSession, settings: Settings, tokens: AccessTokens | None = None) -> None:
        self.session = session
        self.repo = SigningKeyRepository(session)
        self.audit = AuditRepository(session)
        self.settings = settings
        self.tokens = tokens

    async def published(self) -> list[dict[str, Any]]:
        """The JWK set: empty with HS256."""
        if self.tokens is None or not is_asymmetric(self.algorithm):
            return []
        return await self.tokens.published(self.session)

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata: only what shop supports."""
        issuer = self.settings.issuer
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "token_endpoint": f"{issuer}/api/v1/auth/token",
            "grant_types_supported": ["password"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": [],
        }

    @property
    def algorithm(self) -> str:
        return self.settings.jwt_algorithm

    def _new(self) -> NewKey:
        return new_key(self.algorithm, key_box(self.settings.signing_key()))

    def _can_sign(self, key: SigningKey) -> bool:
        """Of JWT_ALGORITHM, and its private half opens with this JWT_SECRET_KEY."""
        if key.alg != self.algorithm:
            return False
        try:
            key_box(self.settings.signing_key()).open(key.private_key)
        except SecretBoxError:
            return False
        return True

    def _refuse_sealed_elsewhere(self, keys: list[SigningKey]) -> None:
        """The active and next keys of JWT_ALGORITHM must open: else the first token signed after
        start, or after the next rotation, would fail — refuse now, naming the cause."""
        unopened = [
            k.kid
            for k in keys
            if k.state in ("active", "next") and k.alg == self.algorithm and not self._can_sign(k)
        ]
        if unopened:
            raise SigningKeysSealedElsewhere(unopened)

    async def check_sealed(self) -> None:
        """Raises SigningKeysSealedElsewhere when JWT_SECRET_KEY cannot open the keys that sign."""
        self._refuse_sealed_elsewhere(await self.listing())

    async def listing(self) -> list[SigningKey]:
        if not is_asymmetric(self.algorithm):
            return []
        return await self.repo.list_all()

    async def ensure(self) -> None:
        """At startup: an active and a next key of JWT_ALGORITHM. When JWT_ALGORITHM changed, the
        old active key retires (its tokens stay valid until they expire) and a new one signs. Keys
        sealed under another JWT_SECRET_KEY: SigningKeysSealedElsewhere, nothing changed."""
        if not is_asymmetric(self.algorithm):
            return
        await self.repo.lock()
        keys = await self.repo.list_all()
        self._refuse_sealed_elsewhere(keys)
        active, upcoming = _by_state(keys)
        if active is None:
            await self._first_keys(upcoming)
        elif active.alg != self.algorithm:
            await self._rotate(keys, reason="algorithm")
        elif upcoming is None or upcoming.alg != self.algorithm:
            await self._replace_next(upcoming)

    async def _first_keys(self, upcoming: SigningKey | None) -> None:
        if upcoming is not None and self._can_sign(upcoming):
            await self.repo.activate(upcoming.kid)  # already published: promote it
        else:
            await self._drop_unopenable(upcoming)
            await self.repo.add(self._new(), "active")
        await self.repo.add(self._new(), "next")
        logger.info("signing keys created", extra={"alg": self.algorithm})

    async def _drop_unopenable(self, upcoming: SigningKey | None) -> SigningKey | None:
        """A next key this instance cannot sign with (another algorithm's, or sealed under another
        secret) is deleted: it never signed, nothing refers to it. The next key that is left."""
        if upcoming is not None and not self._can_sign(upcoming):
            await self.repo.delete(upcoming.kid)
            return None
        return upcoming

    async def rotate(self, *, actor: uuid.UUID | None = None, new_secret: bool = False) -> list[SigningKey]:
        """Next becomes active, active retires, a new next is made; the keys afterwards.

        Keys sealed under another JWT_SECRET_KEY are refused (SigningKeysSealedElsewhere) unless
        `new_secret`: the operator changes JWT_SECRET_KEY on purpose. Then a next key that does not
        open is dropped (it never signed) and a new key signs; the old active key retires as usual —
        verifying needs only its public half, so its tokens stay valid until they expire."""
        if not is_asymmetric(self.algorithm):
            raise KeyRotationUnavailable()
        await self.repo.lock()
        keys = await self.repo.list_all()
        if not new_secret:
            self._refuse_sealed_elsewhere(keys)
        active, upcoming = _by_state(keys)
        if active is None:
            await self._drop_unopenable(upcoming)
            await self.ensure()
        else:
            reason = "new_secret" if new_secret and not self._can_sign(active) else "manual"
            await self._rotate(keys, reason=reason, actor=actor)
        await self.prune()
        if self.tokens is not None:
            self.tokens.keys_changed()  # this instance signs with the new key from its next token
        return await self.repo.list_all()

    async def maintain(self) -> bool:
        """The periodic duty of every instance: prune expired retired keys and, when
        JWT_KEY_ROTATION_DAYS is set and due, rotate. Only the instance that takes the lock acts,
        and it checks again under the lock, so one period gives one rotation. True if it rotated."""
        if not is_asymmetric(self.algorithm) or not await self.repo.try_lock():
            return False
        await self.prune()
        days = self.settings.jwt_key_rotation_days
        if days is None or not await self.repo.rotation_due(days):
            return False
        keys = await self.repo.list_all()
        active = next((k for k in keys if k.state == "active"), None)
        if active is None or not self._can_sign(active):
            # Sealed under another JWT_SECRET_KEY (`rotate --new-secret` while this instance still
            # runs on the old one): rotating here would replace the new secret's keys by keys the
            # other instances cannot open. An instance that can open them rotates instead.
            logger.warning("scheduled key rotation skipped: JWT_SECRET_KEY does not open the active key")
            return False
        await self._rotate(keys, reason="scheduled")
        return True

    async def prune(self) -> list[str]:
        lifetime = retired_key_lifetime(self.settings.access_token_ttl_seconds).total_seconds()
        return await self.repo.delete_retired_before(lifetime)

    async def _replace_next(self, upcoming: SigningKey | None) -> None:
        if upcoming is not None:
            await self.repo.delete(upcoming.kid)  # a next key never signed: nothing refers to it
        await self.repo.add(self._new(), "next")

    async def _rotate(self, keys: list[SigningKey], *, reason: str, actor: uuid.UUID | None = None) -> None:
        active = next(k for k in keys if k.state == "active")
        upcoming = await self._drop_unopenable(_by_state(keys)[1])
        # Order matters for the one-active/one-next indexes: retire, promote, then make a new next.
        await self.repo.retire(active.kid)
        if upcoming is None:
            await self.repo.add(self._new(), "active")
        else:
            await self.repo.activate(upcoming.kid)
        await self.repo.add(self._new(), "next")
        await self.audit.add(
            "signing_key_rotated",
            "success",
            user_id=actor,
            ip=None,
            user_agent=None,
            details={"reason": reason, "retired": active.kid, "alg": self.algorithm},
        )
        logger.info("signing keys rotated", extra={"reason": reason, "retired_kid": active.kid})
