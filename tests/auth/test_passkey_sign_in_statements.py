"""A passkey sign-in's two statements: two round trips on the wire (no BEGIN, no COMMIT), and the
rules the second statement judges again on the rows as they are then — a counter raised, an account
disabled, a passkey removed after the first — refused as the first's answer would have been."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update

from shop.auth.models import Passkey, PasskeyChallenge, Session, User
from shop.auth.passkeys.service import PasskeyService
from tests.auth.test_passkeys import ORIGIN, events, execute, scalar, state, user_id_of, with_passkey
from tests.support.app import AppWith
from tests.support.auth import PASSWORD, login, register_verified
from tests.support.problems import assert_problem
from tests.support.roundtrips import counted_app, last_request_trips
from tests.support.webauthn import (
    PASSKEYS,
    SoftAuthenticator,
    add_passkey,
    passkey_sign_in,
    sign_in_options,
    unb64url,
)


async def test_a_passkey_sign_in_is_two_round_trips(app_with: AppWith, database_url: str) -> None:
    async with counted_app(app_with, database_url) as (proxy, app, client):
        email = await register_verified(client, app)
        authenticator = SoftAuthenticator(ORIGIN)
        added = await add_passkey(client, await login(client, email), authenticator, PASSWORD)
        assert added.status_code == 201, added.text

        async def assertion() -> dict[str, Any]:
            return authenticator.get(await sign_in_options(client))

        async def sign_in(credential: dict[str, Any]) -> None:
            response = await client.post(f"{PASSKEYS}/authenticate", json={"credential": credential})
            assert response.status_code == 200, response.text

        count, sent = await last_request_trips(proxy, sign_in, assertion)
    # The challenge claimed with the passkey and account read; the passkey's use and the session.
    assert count == 2, sent
    assert sent[0].startswith("WITH claimed AS (UPDATE auth.passkey_challenges"), sent
    assert sent[1].startswith("WITH used AS") and "INSERT INTO auth.sessions" in sent[1], sent


Change = Callable[[Any, str, int], Awaitable[None]]


async def _counter_raised(app: Any, email: str, presented: int) -> None:
    """A clone of the key signed in with the same counter meanwhile."""
    user_id = await user_id_of(app, email)
    await execute(app, update(Passkey).where(Passkey.user_id == user_id).values(sign_count=presented))


async def _disabled(app: Any, email: str, presented: int) -> None:
    await execute(app, update(User).where(User.email == email).values(is_active=False))


async def _removed(app: Any, email: str, presented: int) -> None:
    await execute(app, delete(Passkey).where(Passkey.user_id == await user_id_of(app, email)))


@pytest.mark.parametrize(
    ("change", "status", "code", "event", "reason"),
    [
        (_counter_raised, 401, "invalid_credentials", "passkey_clone_suspected", "counter"),
        (_disabled, 403, "account_disabled", "passkey_sign_in", "account_disabled"),
        (_removed, 401, "invalid_credentials", "passkey_sign_in", "unknown_credential"),
    ],
)
async def test_a_rule_broken_after_the_claim_opens_nothing(
    client: httpx.AsyncClient,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    change: Change,
    status: int,
    code: str,
    event: str,
    reason: str,
) -> None:
    email, _, authenticator = await with_passkey(client, app)
    assert (await passkey_sign_in(client, authenticator)).status_code == 200
    sessions, _, last_used = await state(app, email)
    verified_assertion = PasskeyService._verified_assertion

    async def then_changed(self: PasskeyService, *args: Any) -> Any:
        verified = await verified_assertion(self, *args)
        await change(app, email, verified.new_sign_count)
        return verified

    monkeypatch.setattr(PasskeyService, "_verified_assertion", then_changed)
    request = await sign_in_options(client)
    refused = await client.post(f"{PASSKEYS}/authenticate", json={"credential": authenticator.get(request)})
    assert_problem(refused, status, code)

    user_id = await user_id_of(app, email)
    count = select(func.count()).select_from(Session).where(Session.user_id == user_id)
    assert await scalar(app, count) == sessions
    used = await scalar(app, select(func.max(Passkey.last_used_at)).where(Passkey.user_id == user_id))
    assert used in (last_used, None)
    failures = [e for e in await events(app, event, email) if e.outcome == "failure"]
    assert [(e.details or {}).get("reason") for e in failures] == [reason]
    if event == "passkey_clone_suspected":
        assert failures[0].details is not None
        assert failures[0].details["stored"] == failures[0].details["presented"] == 2
    spent = await scalar(
        app,
        select(PasskeyChallenge.spent_at).where(
            PasskeyChallenge.challenge_hash == hashlib.sha256(unb64url(request["challenge"])).digest()
        ),
    )
    assert spent is not None
