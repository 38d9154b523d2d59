"""Passkey sign-in under real parallel requests (the live app on its own pool): one assertion sent
eight times at once opens one session; its challenge is spent once. Eight assertions of one counter
value (a key and its clones), each with a challenge of its own, open one session too."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from shop.auth.models import AuditEvent, Session
from tests.auth.test_concurrency import verified
from tests.support.auth import PASSWORD, login
from tests.support.smtp import SmtpSink
from tests.support.webauthn import PASSKEYS, SoftAuthenticator, add_passkey, passkey_sign_in, sign_in_options


async def _enrolled(client: httpx.AsyncClient, smtp: SmtpSink) -> SoftAuthenticator:
    """A verified account with a passkey: its authenticator."""
    authenticator = SoftAuthenticator("http://shop.test")
    added = await add_passkey(
        client, await login(client, await verified(client, smtp)), authenticator, PASSWORD
    )
    assert added.status_code == 201, added.text
    return authenticator


async def test_one_assertion_sent_eight_times_at_once_opens_one_session(
    live_client: httpx.AsyncClient, live_app: Any, smtp: SmtpSink
) -> None:
    authenticator = await _enrolled(live_client, smtp)
    assertion = authenticator.get(await sign_in_options(live_client))
    async with live_app.state.database.sessions() as session:
        before = int(await session.scalar(select(func.count()).select_from(Session)) or 0)
    responses = await asyncio.gather(
        *(live_client.post(f"{PASSKEYS}/authenticate", json={"credential": assertion}) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] + [401] * 7, [r.text for r in responses]
    async with live_app.state.database.sessions() as session:
        after = int(await session.scalar(select(func.count()).select_from(Session)) or 0)
    assert after == before + 1


async def test_eight_assertions_of_one_counter_at_once_open_one_session(
    live_client: httpx.AsyncClient, live_app: Any, smtp: SmtpSink
) -> None:
    authenticator = await _enrolled(live_client, smtp)
    assert (await passkey_sign_in(live_client, authenticator, sign_count=1)).status_code == 200
    # Each read the counter at 1 before any raised it: the sign-in's own statement judges it again.
    assertions = [authenticator.get(await sign_in_options(live_client), sign_count=5) for _ in range(8)]
    responses = await asyncio.gather(
        *(live_client.post(f"{PASSKEYS}/authenticate", json={"credential": a}) for a in assertions)
    )
    assert sorted(r.status_code for r in responses) == [200] + [401] * 7, [r.text for r in responses]
    async with live_app.state.database.sessions() as session:
        clones = await session.scalar(
            select(func.count()).where(AuditEvent.event == "passkey_clone_suspected")
        )
    assert clones == 7
