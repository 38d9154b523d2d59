"""The re-authentication rule at the service level (`shop.auth.reauth`): the password of an account
that has one, a recent sign-in (the session's creation, by the database's clock) of one that has not."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import text

from shop.auth.errors import InvalidCurrentPassword, ReauthenticationRequired
from shop.auth.models import User
from shop.auth.reauth import Reauthentication
from shop.auth.repository import UserRepository
from shop.auth.sessions.repository import SessionRepository
from shop.core.db import Database
from shop.core.errors import InvalidInput
from tests.support.auth import new_email
from tests.support.services import CLIENT, request_session


async def account(db: Database, password_hash: str | None) -> tuple[User, uuid.UUID]:
    async with request_session(db) as session:
        user_id = await UserRepository(session).add(new_email(), password_hash, verified=True)
        assert user_id is not None
        login_id, _ = await SessionRepository(session).open(
            user_id,
            3600,
            None,
            None,
            amr=["fed"],
            token_hash=os.urandom(32),
            event="login_fed",
            details={},
            sign_in_time=False,
        )
        user = await UserRepository(session).get(user_id)
        assert user is not None
        return user, login_id


async def test_the_rule(db: Database) -> None:
    checked: list[str] = []

    async def check(user: User, password: str, client: object, event: str) -> None:
        checked.append(password)

    async with request_session(db) as session:
        reauth = Reauthentication(SessionRepository(session), 300, check)
        with_password, session_id = await account(db, "$argon2id$stand-in")
        with pytest.raises(InvalidInput):
            await reauth.confirm(with_password, None, session_id, CLIENT, "test")
        await reauth.confirm(with_password, "the password", session_id, CLIENT, "test")
        assert checked == ["the password"]

        without, session_id = await account(db, None)
        with pytest.raises(InvalidCurrentPassword):  # changing a password needs one
            await reauth.confirm(without, None, session_id, CLIENT, "test", needs_password=True)
        await reauth.confirm(without, None, session_id, CLIENT, "test")  # just signed in
        await session.execute(
            text("UPDATE auth.sessions SET created_at = created_at - interval '301 seconds' WHERE id = :id"),
            {"id": session_id},
        )
        with pytest.raises(ReauthenticationRequired):
            await reauth.confirm(without, None, session_id, CLIENT, "test")
        await Reauthentication(SessionRepository(session), 400, check).confirm(
            without, None, session_id, CLIENT, "test"
        )
        assert checked == ["the password"]  # never asked for a password it has not
