"""Recovery codes are stored as argon2id hashes, each with its own random salt (ASVS 6.5.2: 50-bit
secrets need an approved password hash with a salt); codes made before, stored as the keyed HMAC of
the former form, keep working until each is used or the set is replaced."""

from __future__ import annotations

from typing import Any

import httpx
from argon2 import PasswordHasher as Argon2
from sqlalchemy import delete, insert, select

from shop.auth.mfa import codes as mfa
from shop.auth.models import RecoveryCode, User
from tests.support.auth import PASSWORD, bearer, login, register_verified
from tests.support.mfa import MFA, Clock, enrol, first_step, verify
from tests.support.problems import assert_problem


async def stored_hashes(app: Any, email: str) -> tuple[Any, list[bytes]]:
    async with app.state.database.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        rows = await session.scalars(
            select(RecoveryCode.code_hash).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
        return user.id, [bytes(row) for row in rows.all()]


async def test_codes_are_argon2id_hashes_each_with_its_own_salt(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email = await register_verified(client, app)
    enrolled = await enrol(client, await login(client, email), clock)
    _, hashes = await stored_hashes(app, email)
    assert len(hashes) == 10
    salts = set()
    for stored in hashes:
        text = stored.decode("ascii")
        assert text.startswith("$argon2id$v=19$") and not mfa.is_legacy_recovery_hash(stored)
        salts.add(text.split("$")[4])
    assert len(salts) == 10  # a salt of its own each
    # Each stored hash is the argon2id of exactly one of the codes shown.
    plains = [mfa.normalise_recovery_code(code) for code in enrolled.recovery_codes]
    for stored in hashes:
        assert sum(_argon2_matches(stored, plain or "") for plain in plains) == 1

    code = enrolled.recovery_codes[7]
    accepted = await verify(client, await first_step(client, email), recovery_code=code.upper())
    assert accepted.status_code == 200, accepted.text
    again = await verify(client, await first_step(client, email), recovery_code=code)
    assert_problem(again, 401, "invalid_code")
    assert len((await stored_hashes(app, email))[1]) == 9


def _argon2_matches(stored: bytes, plain: str) -> bool:
    try:
        return Argon2().verify(stored.decode("ascii"), plain)
    except Exception:
        return False


async def test_codes_of_the_former_hmac_form_work_until_used_or_replaced(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    enrolled = await enrol(client, pair, clock)
    user_id, _ = await stored_hashes(app, email)
    # As an older shop stored them: the HMAC of the user id and the code, keyed from the root secret.
    legacy = mfa.MfaKeys.from_root(app.state.settings.signing_key()).recovery_codes
    old_codes = mfa.new_recovery_codes()
    async with app.state.database.sessions() as session, session.begin():
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        await session.execute(
            insert(RecoveryCode),
            [{"user_id": user_id, "code_hash": legacy.hash(user_id, code)} for code in old_codes],
        )
    assert all(mfa.is_legacy_recovery_hash(h) for h in (await stored_hashes(app, email))[1])

    used = await verify(client, await first_step(client, email), recovery_code=old_codes[2])
    assert used.status_code == 200, used.text
    assert_problem(
        await verify(client, await first_step(client, email), recovery_code=old_codes[2]), 401, "invalid_code"
    )
    assert_problem(
        await verify(client, await first_step(client, email), recovery_code="0a1b2-c3d4e"),
        401,
        "invalid_code",
    )

    # Replacing the set (the new codes shown once) leaves only argon2id hashes; the old codes are void.
    body = {"password": PASSWORD, "code": enrolled.app.next_code()}
    fresh = await client.post(f"{MFA}/recovery-codes", json=body, headers=bearer(used.json()))
    assert fresh.status_code == 200, fresh.text
    hashes = (await stored_hashes(app, email))[1]
    assert len(hashes) == 10 and not any(mfa.is_legacy_recovery_hash(h) for h in hashes)
    assert_problem(
        await verify(client, await first_step(client, email), recovery_code=old_codes[5]), 401, "invalid_code"
    )
    new = await verify(
        client, await first_step(client, email), recovery_code=fresh.json()["recovery_codes"][0]
    )
    assert new.status_code == 200, new.text
