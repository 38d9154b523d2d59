"""The signing keys' life outside requests: made on first start, then — in every instance, every
few seconds — retired keys pruned and, with JWT_KEY_ROTATION_DAYS, a rotation when one is due.
Only the instance holding the keys' advisory lock acts, so one period gives one rotation."""

from __future__ import annotations

import logging
import random

from shop.auth.keys.material import is_asymmetric
from shop.auth.keys.service import SigningKeyService
from shop.auth.keys.tokens import AccessTokens
from shop.core.background import BackgroundLoop
from shop.core.config import Settings
from shop.core.db import Database

logger = logging.getLogger("shop.auth.keys")

INTERVAL_SECONDS = 10.0


class SigningKeyMaintenance(BackgroundLoop):
    name = "signing-key-maintenance"

    def __init__(self, settings: Settings, database: Database, tokens: AccessTokens) -> None:
        super().__init__()
        self.settings = settings
        self.database = database
        self.tokens = tokens

    async def ensure_keys(self) -> None:
        """At startup, before the first request: an active and a next key (no-op with HS256)."""
        if not is_asymmetric(self.settings.jwt_algorithm):
            return
        async with self.database.sessions() as session, session.begin():
            await SigningKeyService(session, self.settings).ensure()
        self.tokens.keys_changed()

    async def run_once(self) -> bool:
        """Prune, and rotate when due. True when this instance rotated."""
        async with self.database.sessions() as session, session.begin():
            rotated = await SigningKeyService(session, self.settings).maintain()
        if rotated:
            self.tokens.keys_changed()
        return rotated

    def start(self) -> None:
        if is_asymmetric(self.settings.jwt_algorithm):  # HS256 has no key pairs to look after
            super().start()

    async def _run(self) -> None:
        while not self.stopping:
            # Jitter: instances started together do not all knock on the lock at once.
            await self.pause(INTERVAL_SECONDS * random.uniform(0.8, 1.2))  # noqa: S311
            if self.stopping:
                return
            try:
                await self.run_once()
            except Exception:  # must outlive database outages
                logger.warning("signing key maintenance failed; retrying", exc_info=True)
