"""The auth rules that matter most, at the service level (no HTTP): lockout arithmetic, the grace
period of refresh-token reuse, and a signed-in caller whose account is gone. Refusals must persist
although the request rolls back."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, text, update

from shop.auth.dependencies import (
    account_service,
    email_change_service,
    export_service,
    mfa_service,
    passkey_service,
    session_service,
)
from shop.auth.errors import AccountLocked, InvalidCredentials, TokenReused
from shop.auth.models import AuditEvent, RefreshToken, User
from shop.auth.repository import UserRepository
from shop.auth.sessions.schemas import TokenPair
from shop.auth.sessions.service import SessionService
from shop.bootstrap import Shop, bootstrap
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.errors import TokenRevoked
from tests.support.auth import PASSWORD, new_email
from tests.support.lockout import assert_retry_after, lock_length, locked_until, timed
from tests.support.services import CLIENT, request_session

T = TypeVar("T")


@pytest.fixture
def shop(settings: Settings) -> Shop:
    return bootstrap(settings)


async def in_request(db: Database, shop: Shop, work: Callable[[SessionService], Awaitable[T]]) -> T:
    async with request_session(db) as session:
        return await work(session_service(session, db, shop.auth))


async def verified_user(db: Database, shop: Shop) -> str:
    email = new_email()
    async with request_session(db) as session:
        service = account_service(session, db, shop.auth)
        await service.users.add(email, await shop.auth.hasher.hash(PASSWORD), role="customer", verified=True)
    return email


async def user_row(db: Database, email: str) -> User:
    async with db.sessions() as session:
        user = await UserRepository(session).get_by_email(email)
    assert user is not None
    return user


async def expire_lock(db: Database, email: str) -> None:
    async with db.unit_of_work() as session:
        await session.execute(
            update(User).where(User.email == email).values(locked_until=text("now() - interval '1 second'"))
        )


WRONG = "wrong password here"


async def fail(db: Database, shop: Shop, email: str, password: str = WRONG) -> Exception:
    with pytest.raises((InvalidCredentials, AccountLocked)) as raised:
        await in_request(db, shop, lambda s: s.login(email, password, CLIENT))
    return raised.value


async def test_failures_count_up_to_the_threshold_then_lock_for_the_base(db: Database, shop: Shop) -> None:
    email = await verified_user(db, shop)
    for count in range(1, 5):
        assert isinstance(await fail(db, shop, email), InvalidCredentials)
        # The count outlives the request, which rolled back.
        assert (await user_row(db, email)).failed_login_count == count
    locked = await timed(fail(db, shop, email))
    assert isinstance(locked.value, AccountLocked)
    assert await lock_length(db, email) == timedelta(seconds=900)
    until = await locked_until(db, email)
    assert_retry_after(locked.value.headers, until, locked.before, locked.after)
    user = await user_row(db, email)
    assert (user.failed_login_count, user.lockout_count) == (0, 1)
    # While locked, even the right password is refused and counts nothing.
    assert isinstance(await fail(db, shop, email, PASSWORD), AccountLocked)
    assert (await user_row(db, email)).failed_login_count == 0


async def test_each_lockout_lasts_twice_the_last_up_to_the_maximum(
    db: Database, shop: Shop, settings: Settings
) -> None:
    email = await verified_user(db, shop)
    expected = [900, 1800, 3600]
    for seconds in expected:
        for _ in range(4):
            await fail(db, shop, email)
        locked = await timed(fail(db, shop, email))
        assert isinstance(locked.value, AccountLocked)
        assert await lock_length(db, email) == timedelta(seconds=seconds)
        until = await locked_until(db, email)
        assert_retry_after(locked.value.headers, until, locked.before, locked.after)
        await expire_lock(db, email)
    async with db.unit_of_work() as session:
        await session.execute(update(User).where(User.email == email).values(lockout_count=40))
    for _ in range(4):
        await fail(db, shop, email)
    locked = await timed(fail(db, shop, email))
    assert isinstance(locked.value, AccountLocked)
    assert await lock_length(db, email) == timedelta(seconds=settings.lockout_max_seconds)
    until = await locked_until(db, email)
    assert_retry_after(locked.value.headers, until, locked.before, locked.after)


async def test_an_expired_lock_starts_the_count_afresh_and_success_resets_it(
    db: Database, shop: Shop
) -> None:
    email = await verified_user(db, shop)
    for _ in range(5):
        await fail(db, shop, email)
    await expire_lock(db, email)
    assert isinstance(await fail(db, shop, email), InvalidCredentials)
    assert (await user_row(db, email)).failed_login_count == 1
    await in_request(db, shop, lambda s: s.login(email, PASSWORD, CLIENT))
    user = await user_row(db, email)
    assert (user.failed_login_count, user.lockout_count, user.locked_until) == (0, 0, None)


async def test_refusals_are_audited_although_the_request_rolls_back(db: Database, shop: Shop) -> None:
    email = await verified_user(db, shop)
    user_id = (await user_row(db, email)).id
    for _ in range(5):
        await fail(db, shop, email)
    async with db.sessions() as session:
        events = (
            await session.execute(
                select(AuditEvent.event, AuditEvent.outcome)
                .where(AuditEvent.user_id == user_id)
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [tuple(row) for row in events] == [("login", "failure")] * 4 + [("lockout", "locked")]


async def signed_in(db: Database, shop: Shop) -> TokenPair:
    email = await verified_user(db, shop)
    return await in_request(db, shop, lambda s: s.login(email, PASSWORD, CLIENT))


async def age_rotation(db: Database, refresh_token: str, seconds: int) -> None:
    from shop.auth.tools import hash_token

    async with db.unit_of_work() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_token(refresh_token))
            .values(rotated_at=text(f"now() - interval '{seconds} seconds'"))
        )


async def refresh(db: Database, shop: Shop, token: str) -> TokenPair:
    return await in_request(db, shop, lambda s: s.refresh(token, CLIENT))


async def test_reuse_within_the_grace_period_keeps_the_session(
    db: Database, shop: Shop, settings: Settings
) -> None:
    first = await signed_in(db, shop)
    second = await refresh(db, shop, first.refresh_token)
    await age_rotation(db, first.refresh_token, settings.refresh_reuse_grace_seconds - 2)
    with pytest.raises(TokenReused):
        await refresh(db, shop, first.refresh_token)
    # The winner's token still works: the session lives on.
    await refresh(db, shop, second.refresh_token)


async def test_reuse_after_the_grace_period_revokes_the_session(
    db: Database, shop: Shop, settings: Settings
) -> None:
    first = await signed_in(db, shop)
    second = await refresh(db, shop, first.refresh_token)
    await age_rotation(db, first.refresh_token, settings.refresh_reuse_grace_seconds + 5)
    with pytest.raises(TokenReused):
        await refresh(db, shop, first.refresh_token)
    # The revocation outlived the refused request.
    with pytest.raises(TokenRevoked):
        await refresh(db, shop, second.refresh_token)


async def test_unknown_email_spends_one_check(db: Database, settings: Settings) -> None:
    from tests.support.auth import CountingHasher

    hasher = CountingHasher(settings)
    shop = bootstrap(settings, hasher=hasher)
    with pytest.raises(InvalidCredentials):
        await in_request(db, shop, lambda s: s.login(new_email(), "whatever password", CLIENT))
    assert len(hasher.checked) == 1


# What a signed-in caller reaches after its token was checked: (the service, the call).
SIGNED_IN_CALLS: dict[str, tuple[Callable[..., Any], Callable[[Any, uuid.UUID], Awaitable[object]]]] = {
    "delete the account": (account_service, lambda s, u: s.delete(u, u, PASSWORD, CLIENT)),
    "change the password": (
        account_service,
        lambda s, u: s.change_password(u, u, PASSWORD, PASSWORD + "-new", CLIENT),
    ),
    "ask for an email change": (
        email_change_service,
        lambda s, u: s.ask(u, u, new_email(), PASSWORD, CLIENT),
    ),
    "export personal data": (export_service, lambda s, u: s.export(u, u, None, PASSWORD, CLIENT)),
    "begin a passkey": (passkey_service, lambda s, u: s.registration_options(u, u, PASSWORD, CLIENT)),
    "add a passkey": (passkey_service, lambda s, u: s.add(u, {}, "laptop", CLIENT)),
    "remove a passkey": (passkey_service, lambda s, u: s.remove(u, u, uuid.uuid4(), PASSWORD, CLIENT)),
    "set up two-step sign-in": (mfa_service, lambda s, u: s.mfa_setup(u, u, PASSWORD, CLIENT)),
    "confirm two-step sign-in": (mfa_service, lambda s, u: s.mfa_confirm(u, u, "000000", CLIENT)),
    "turn two-step sign-in off": (mfa_service, lambda s, u: s.mfa_disable(u, u, PASSWORD, "000000", CLIENT)),
    "replace the recovery codes": (
        mfa_service,
        lambda s, u: s.mfa_new_recovery_codes(u, u, PASSWORD, "000000", CLIENT),
    ),
}


@pytest.mark.parametrize("call", SIGNED_IN_CALLS)
async def test_a_caller_whose_account_was_deleted_meanwhile_is_signed_out(
    db: Database, shop: Shop, call: str
) -> None:
    """The account went (a deletion in another tab) after the caller's token was checked: the answer
    is the one that token now gets, 401 `token_revoked`, not a 404 no signed-in endpoint names (CI
    once saw the second of two DELETE /me answer 404)."""
    factory, work = SIGNED_IN_CALLS[call]
    with pytest.raises(TokenRevoked):
        async with request_session(db) as session:
            await work(factory(session, db, shop.auth), uuid.uuid4())
