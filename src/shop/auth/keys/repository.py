"""The signing keys, changed under one advisory lock across instances."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from sqlalchemy import (
    case,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import (
    SigningKey,
)


class NewSigningKey(Protocol):
    """A key pair to store (made by shop.auth.keys.tokens.new_key), its private half already sealed."""

    @property
    def kid(self) -> str: ...
    @property
    def alg(self) -> str: ...
    @property
    def public_jwk(self) -> dict[str, str]: ...
    @property
    def sealed_private_key(self) -> bytes: ...


# pg_advisory_xact_lock key serialising key changes across instances ("shopKEYS").
_SIGNING_KEYS_LOCK = 0x73686F704B455953


class SigningKeyRepository:
    """The signing keys (auth.signing_keys). Changes happen under one advisory lock per database."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        """Wait for, then hold until the transaction ends, the right to change the keys."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SIGNING_KEYS_LOCK})

    async def try_lock(self) -> bool:
        """Take the lock if it is free; False when another instance holds it (it does the work)."""
        return bool(
            await self.session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SIGNING_KEYS_LOCK})
        )

    async def list_all(self) -> list[SigningKey]:
        state_order = case({"next": 0, "active": 1}, value=SigningKey.state, else_=2)
        rows = await self.session.scalars(
            select(SigningKey).order_by(
                state_order, SigningKey.retired_at.desc(), SigningKey.created_at.desc()
            )
        )
        return list(rows)

    async def add(self, key: NewSigningKey, state: str) -> None:
        await self.session.execute(
            insert(SigningKey).values(
                kid=key.kid,
                alg=key.alg,
                state=state,
                public_jwk=key.public_jwk,
                private_key=key.sealed_private_key,
                activated_at=func.now() if state == "active" else None,
            )
        )

    async def retire(self, kid: str) -> None:
        await self.session.execute(
            update(SigningKey).where(SigningKey.kid == kid).values(state="retired", retired_at=func.now())
        )

    async def activate(self, kid: str) -> None:
        await self.session.execute(
            update(SigningKey).where(SigningKey.kid == kid).values(state="active", activated_at=func.now())
        )

    async def delete(self, kid: str) -> None:
        await self.session.execute(delete(SigningKey).where(SigningKey.kid == kid))

    async def delete_retired_before(self, seconds_ago: float) -> list[str]:
        """Remove the retired keys whose tokens have all expired; their kids."""
        rows = await self.session.scalars(
            delete(SigningKey)
            .where(
                SigningKey.state == "retired",
                SigningKey.retired_at < func.now() - timedelta(seconds=seconds_ago),
            )
            .returning(SigningKey.kid)
        )
        return list(rows)

    async def rotation_due(self, days: float) -> bool:
        """Has the active key been active for `days` (as the database's clock says)?"""
        due = await self.session.scalar(
            select(func.count())
            .select_from(SigningKey)
            .where(SigningKey.state == "active", SigningKey.activated_at <= func.now() - timedelta(days=days))
        )
        return bool(due)
