"""Every query of the passkeys capability: user handles, challenges (stored as SHA-256), credentials."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    Uuid,
    bindparam,
    delete,
    exists,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.models import Passkey, PasskeyChallenge, PasskeyUser, User
from shop.auth.sessions.repository import SIGN_IN_PARAMETERS, SIGN_IN_WRITES
from shop.core.db import HotStatement

REGISTER, AUTHENTICATE = "register", "authenticate"


# The statements of every passkey sign-in, built once: building one costs more than running the
# cached compilation of it. Their parameters are not named as columns they set (SQLAlchemy keeps
# those names for the values of an executemany).
_CLAIM_CHALLENGE = (
    update(PasskeyChallenge)
    .where(
        PasskeyChallenge.challenge_hash == bindparam("claimed_hash"),
        PasskeyChallenge.purpose == bindparam("claimed_purpose"),
        PasskeyChallenge.spent_at.is_(None),
        PasskeyChallenge.expires_at > func.now(),
    )
    .values(spent_at=func.now())
    .returning(PasskeyChallenge.challenge_hash)
    .execution_options(synchronize_session=False)
)
_CLAIM_CHALLENGE_OF_USER = _CLAIM_CHALLENGE.where(PasskeyChallenge.user_id == bindparam("claimed_by"))
# A sign-in's first statement: its challenge claimed (as `_CLAIM_CHALLENGE`), and the passkey of the
# credential with its account's handle and what the sign-in needs of its account. The claim is
# answered also when no passkey has the credential. Sent on the driver (`HotStatement`), in
# autocommit: the challenge is spent whatever follows. The passkey's row is not locked: the second
# statement (`_SIGN_IN`) judges its counter again on the row it updates.
_CLAIMED = _CLAIM_CHALLENGE.cte("claimed")
_ONE = select(literal(1).label("one")).subquery("one")
_CLAIM_FOR_SIGN_IN = HotStatement(
    select(
        exists(select(_CLAIMED.c.challenge_hash)).label("claimed"),
        Passkey.id.label("passkey_id"),
        Passkey.user_id,
        Passkey.public_key,
        Passkey.sign_count,
        PasskeyUser.handle,
        User.email,
        User.email_verified,
        User.is_active,
    )
    .select_from(_ONE)
    .outerjoin(Passkey, Passkey.credential_id == bindparam("credential_id"))
    .outerjoin(PasskeyUser, PasskeyUser.user_id == Passkey.user_id)
    .outerjoin(User, User.id == Passkey.user_id)
)
# A sign-in's writes (`SIGN_IN_WRITES`) with the passkey's use recorded in the same statement: its
# signature counter (never lowered), whether it is backed up now, when it was last used — only while
# the rules the first statement's answer was judged by still hold on the row as it is now: the
# account active, and the counter not at or past the presented one (WebAuthn §7.2; 0 is a passkey
# that does not count). Of two sign-ins with one counter value, the second waits on the row and then
# finds the counter moved: no row, no writes, and the statement answers NULL.
_SIGN_IN = HotStatement(
    text(
        f"""
WITH used AS (
    UPDATE auth.passkeys AS p
    SET sign_count = greatest(p.sign_count, :presented_count), backed_up = :now_backed_up,
        last_used_at = now()
    FROM auth.users AS u
    WHERE p.id = :passkey_id AND u.id = p.user_id AND u.is_active
      AND (:presented_count = 0 OR p.sign_count = 0 OR p.sign_count < :presented_count)
    RETURNING p.user_id
),
signing_in AS (SELECT user_id FROM used),
{SIGN_IN_WRITES}
SELECT (SELECT id FROM new_session) AS id
"""  # noqa: S608 - joined of this module's constants, no input
    ).bindparams(
        bindparam("passkey_id", type_=Uuid),
        bindparam("presented_count", type_=BigInteger),
        bindparam("now_backed_up", type_=Boolean),
        *SIGN_IN_PARAMETERS,
    )
)
# Why `_SIGN_IN` opened no session, read after it: the passkey's counter and its account's state.
_STANDING = select(Passkey.sign_count, User.is_active).join(User, User.id == Passkey.user_id)


@dataclass(frozen=True, slots=True)
class SigningPasskey:
    """A credential's passkey as a sign-in reads it (`claim_for_sign_in`), with its account's handle
    and what the sign-in needs of the account."""

    passkey_id: uuid.UUID
    user_id: uuid.UUID
    public_key: bytes
    sign_count: int
    handle: bytes
    email: str
    email_verified: bool
    is_active: bool


class PasskeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- user handles ---------------------------------------------------------------------------

    async def handle_of(self, user_id: uuid.UUID, new_handle: bytes) -> bytes:
        """The account's handle: `new_handle` becomes it unless it has one (also under a race)."""
        await self.session.execute(
            insert(PasskeyUser).values(user_id=user_id, handle=new_handle).on_conflict_do_nothing()
        )
        handle = await self.session.scalar(select(PasskeyUser.handle).where(PasskeyUser.user_id == user_id))
        if handle is None:  # pragma: no cover - inserted or found just above
            raise RuntimeError("no passkey handle after its insert")
        return handle

    # -- challenges -----------------------------------------------------------------------------

    async def add_challenge(
        self, challenge_hash: bytes, purpose: str, user_id: uuid.UUID | None, ttl_seconds: int
    ) -> None:
        await self.session.execute(
            insert(PasskeyChallenge).values(
                challenge_hash=challenge_hash,
                purpose=purpose,
                user_id=user_id,
                expires_at=func.now() + timedelta(seconds=ttl_seconds),
            )
        )

    async def claim_challenge(self, challenge_hash: bytes, purpose: str, user_id: uuid.UUID | None) -> bool:
        """Spend a live challenge of this purpose (and, for a registration, of this account): True
        once. A concurrent claim waits on the row and then finds it spent."""
        params: dict[str, object] = {"claimed_hash": challenge_hash, "claimed_purpose": purpose}
        statement = _CLAIM_CHALLENGE
        if user_id is not None:
            statement, params["claimed_by"] = _CLAIM_CHALLENGE_OF_USER, user_id
        return (await self.session.scalar(statement, params)) is not None

    async def spend_challenge(self, challenge_hash: bytes, purpose: str) -> None:
        """After a refused sign-in: the challenge had one try (the refusal's rollback undid its claim)."""
        await self.session.execute(
            update(PasskeyChallenge)
            .where(
                PasskeyChallenge.challenge_hash == challenge_hash,
                PasskeyChallenge.purpose == purpose,
                PasskeyChallenge.spent_at.is_(None),
            )
            .values(spent_at=func.now())
            .execution_options(synchronize_session=False)
        )

    # -- credentials ----------------------------------------------------------------------------

    async def count(self, user_id: uuid.UUID) -> int:
        return int(await self.session.scalar(select(func.count()).where(Passkey.user_id == user_id)) or 0)

    async def credential_ids(self, user_id: uuid.UUID) -> list[bytes]:
        return list(
            (
                await self.session.scalars(select(Passkey.credential_id).where(Passkey.user_id == user_id))
            ).all()
        )

    async def add(
        self,
        *,
        user_id: uuid.UUID,
        credential_id: bytes,
        public_key: bytes,
        sign_count: int,
        transports: list[str],
        backup_eligible: bool,
        backed_up: bool,
        aaguid: uuid.UUID,
        name: str,
    ) -> Passkey | None:
        """The new passkey, or None when its credential id is registered already (to any account)."""
        statement = (
            insert(Passkey)
            .values(
                user_id=user_id,
                credential_id=credential_id,
                public_key=public_key,
                sign_count=sign_count,
                transports=transports,
                backup_eligible=backup_eligible,
                backed_up=backed_up,
                aaguid=aaguid,
                name=name,
            )
            .on_conflict_do_nothing(index_elements=[Passkey.credential_id])
            .returning(Passkey)
        )
        return await self.session.scalar(statement)

    async def list_newest(self, user_id: uuid.UUID) -> list[Passkey]:
        statement = (
            select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at.desc(), Passkey.id)
        )
        return list((await self.session.scalars(statement)).all())

    async def rename(self, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str) -> Passkey | None:
        statement = (
            update(Passkey)
            .where(Passkey.id == passkey_id, Passkey.user_id == user_id)
            .values(name=name)
            .returning(Passkey)
            .execution_options(synchronize_session=False)
        )
        return await self.session.scalar(statement)

    async def delete(self, user_id: uuid.UUID, passkey_id: uuid.UUID) -> Passkey | None:
        statement = (
            delete(Passkey)
            .where(Passkey.id == passkey_id, Passkey.user_id == user_id)
            .returning(Passkey)
            .execution_options(synchronize_session=False)
        )
        return await self.session.scalar(statement)

    async def claim_for_sign_in(
        self, challenge_hash: bytes, credential_id: bytes
    ) -> tuple[bool, SigningPasskey | None]:
        """`claim_challenge` of a sign-in's challenge and `for_sign_in` of its credential, in one
        statement: whether the challenge was claimed, and the passkey with its account (or None)."""
        params = {
            "claimed_hash": challenge_hash,
            "claimed_purpose": AUTHENTICATE,
            "credential_id": credential_id,
        }
        row = await _CLAIM_FOR_SIGN_IN.first(self.session, params)
        if row is None:  # pragma: no cover - the statement answers one row, whatever it found
            raise RuntimeError("no answer from a passkey sign-in's claim")
        claimed = bool(row.pop("claimed"))
        if row["passkey_id"] is None or row["email"] is None:
            return claimed, None
        return claimed, SigningPasskey(**row)

    async def sign_in(
        self, passkey_id: uuid.UUID, sign_count: int, backed_up: bool, opening: Mapping[str, object]
    ) -> uuid.UUID | None:
        """The passkey's use recorded and its account's new session opened (`opening`: the
        parameters of `SIGN_IN_WRITES`), in one statement: the session's id; None, and nothing
        written, when the account is disabled, the passkey gone or its counter at `sign_count` or
        past it by now."""
        params = {
            **opening,
            "passkey_id": passkey_id,
            "presented_count": sign_count,
            "now_backed_up": backed_up,
        }
        row = await _SIGN_IN.first(self.session, params)
        return None if row is None else row["id"]

    async def standing(self, passkey_id: uuid.UUID) -> tuple[int, bool] | None:
        """The passkey's counter and whether its account is active; None for a passkey that is gone."""
        row = (await self.session.execute(_STANDING.where(Passkey.id == passkey_id))).first()
        return (row[0], row[1]) if row is not None else None
