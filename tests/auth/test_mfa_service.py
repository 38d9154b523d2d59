"""Two-step sign-in at the service level (no HTTP): replay, and wrong codes that are counted although
the request that saw them rolls back."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pyotp
import pytest
from sqlalchemy import select

from shop.auth.dependencies import account_service, mfa_service, session_service
from shop.auth.errors import AccountLocked, InvalidSecondStep, SecondStepRequired
from shop.auth.mfa.service import MfaService
from shop.auth.models import MfaChallenge, User
from shop.auth.repository import UserRepository
from shop.bootstrap import Shop, bootstrap
from shop.core.config import Settings
from shop.core.db import Database
from tests.support.auth import PASSWORD, new_email
from tests.support.mfa import Clock
from tests.support.services import CLIENT, request_session

T = TypeVar("T")


@pytest.fixture
def shop(settings: Settings, clock: Clock) -> Shop:
    return bootstrap(settings, clock=clock)


async def mfa(db: Database, shop: Shop, work: Callable[[MfaService], Awaitable[T]]) -> T:
    async with request_session(db) as session:
        return await work(mfa_service(session, db, shop.auth))


async def enrolled_user(db: Database, shop: Shop, clock: Clock) -> tuple[str, uuid.UUID, pyotp.TOTP]:
    email = new_email()
    async with request_session(db) as session:
        service = account_service(session, db, shop.auth)
        await service.users.add(email, await shop.auth.hasher.hash(PASSWORD), verified=True)
        user = await service.users.get_by_email(email)
        assert user is not None
        user_id = user.id
        login_id, _ = await service.sessions.open(
            user_id,
            3600,
            None,
            None,
            amr=["pwd"],
            token_hash=os.urandom(32),
            event="login",
            details={},
            sign_in_time=False,
        )
    setup = await mfa(db, shop, lambda s: s.mfa_setup(user_id, login_id, PASSWORD, CLIENT))
    totp = pyotp.TOTP(setup.secret)
    await mfa(db, shop, lambda s: s.mfa_confirm(user_id, login_id, totp.at(clock.now), CLIENT))
    return email, user_id, totp


async def mfa_token(db: Database, shop: Shop, email: str) -> str:
    with pytest.raises(SecondStepRequired) as raised:
        async with request_session(db) as session:
            await session_service(session, db, shop.auth).login(email, PASSWORD, CLIENT)
    return str(raised.value.extensions["mfa_token"])


async def user_row(db: Database, user_id: uuid.UUID) -> User:
    async with db.sessions() as session:
        user = await UserRepository(session).get(user_id)
    assert user is not None
    return user


async def test_a_step_is_accepted_once_and_never_an_earlier_one(
    db: Database, shop: Shop, clock: Clock
) -> None:
    email, _, totp = await enrolled_user(db, shop, clock)
    clock.tick()
    code = totp.at(clock.now)
    token = await mfa_token(db, shop, email)
    pair = await mfa(db, shop, lambda s: s.mfa_verify(token, code, None, CLIENT))
    assert pair.access_token
    for replay in (code, totp.at(clock.now, counter_offset=-1)):
        token = await mfa_token(db, shop, email)
        with pytest.raises(InvalidSecondStep):
            await mfa(db, shop, lambda s, t=token, c=replay: s.mfa_verify(t, c, None, CLIENT))


async def test_wrong_codes_count_although_the_request_rolls_back(
    db: Database, shop: Shop, clock: Clock
) -> None:
    email, user_id, totp = await enrolled_user(db, shop, clock)
    valid = {totp.at(clock.now, counter_offset=offset) for offset in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in valid)
    token = await mfa_token(db, shop, email)
    for count in range(1, 5):
        with pytest.raises(InvalidSecondStep):
            await mfa(db, shop, lambda s: s.mfa_verify(token, wrong, None, CLIENT))
        assert (await user_row(db, user_id)).failed_login_count == count
    with pytest.raises(AccountLocked):
        await mfa(db, shop, lambda s: s.mfa_verify(token, wrong, None, CLIENT))
    async with db.sessions() as session:
        challenge = await session.scalar(select(MfaChallenge).where(MfaChallenge.user_id == user_id))
    assert challenge is not None and challenge.failed_attempts == 5 and challenge.spent_at is not None


async def test_an_unknown_token_counts_nothing(db: Database, shop: Shop, clock: Clock) -> None:
    _, user_id, totp = await enrolled_user(db, shop, clock)
    with pytest.raises(InvalidSecondStep):
        await mfa(db, shop, lambda s: s.mfa_verify("unknown", totp.at(clock.now), None, CLIENT))
    assert (await user_row(db, user_id)).failed_login_count == 0
