"""Delivery to real receivers on loopback, each message verified with the `standardwebhooks` library:
every event type once for its change and never for a rolled-back one, retries under one webhook-id,
a receiver that comes back, a hanging receiver that delays no other endpoint, secret rotation,
redirects not followed, a connection the receiver closed, each send's trace span, the target rules
and https in production at each delivery, `failed` and a retry by hand, erasure."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from shop.auth import public as auth_public
from shop.core import tracing
from shop.users.schemas import AddressIn
from shop.users.service import AddressService
from shop.webhooks.service import EVENT_TYPES, EndpointService
from tests.support.app import http_client
from tests.support.auth import PASSWORD, bearer, login, register_verified
from tests.support.factories import signed_in_user, user_with_profile
from tests.support.users import ADDRESSES, PROFILE, add_address, address_body
from tests.support.waiting import wait_until_async
from tests.support.webhooks import ENDPOINTS, HooksApp, Message, Receiver, add_endpoint

RATES = "/api/v1/admin/exchange-rates"
_minutes = itertools.count(1)


async def add_rate(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """A new EUR→USD rate (each at its own instant): one `exchange_rate.created`."""
    at = datetime(2026, 1, 1, tzinfo=UTC).replace(minute=next(_minutes) % 60, hour=next(_minutes) % 24)
    body = {"from": "EUR", "to": "USD", "rate": "1.0852", "effective_date": at.isoformat()}
    response = await client.post(RATES, json=body, headers=admin)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def deliveries(client: httpx.AsyncClient, admin: dict[str, str], endpoint: dict[str, Any]) -> list[Any]:
    response = await client.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries", headers=admin)
    assert response.status_code == 200, response.text
    return list(response.json())


async def wait_for_status(
    client: httpx.AsyncClient, admin: dict[str, str], endpoint: dict[str, Any], status: str, count: int = 1
) -> list[Any]:
    async def found() -> list[Any] | None:
        listed = [d for d in await deliveries(client, admin, endpoint) if d["status"] == status]
        return listed if len(listed) >= count else None

    return await wait_until_async(found, f"{count} {status} deliveries", 30, 0.05)


async def test_each_event_fires_once_for_its_change_and_never_for_a_rolled_back_one(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    await add_endpoint(hooks_client, admin, receiver)
    user = await user_with_profile(hooks_app)

    # A change that publishes its event and then rolls back sends nothing.
    async with hooks_app.state.database.sessions() as session:
        service = AddressService(session, events=hooks_app.state.events)
        await service.create(user.user_id, AddressIn.model_validate(address_body()))
        await session.rollback()

    profile = await hooks_client.patch(PROFILE, json={"first_name": "Ada"}, headers=user.headers)
    assert profile.status_code == 200
    address = await add_address(hooks_client, user)
    updated = await hooks_client.patch(
        f"{ADDRESSES}/{address['id']}", json={"city": "Bath"}, headers=user.headers
    )
    assert updated.status_code == 200
    assert (
        await hooks_client.delete(f"{ADDRESSES}/{address['id']}", headers=user.headers)
    ).status_code == 204
    rate = await add_rate(hooks_client, admin)

    await receiver.wait_for(5)
    await asyncio.sleep(0.5)  # time for a stray or duplicate message to show
    messages = {m.type: m for m in receiver.received()}
    assert Counter(m.type for m in receiver.received()) == {
        "profile.updated": 1,
        "address.created": 1,
        "address.updated": 1,
        "address.deleted": 1,
        "exchange_rate.created": 1,
    }
    assert messages["profile.updated"].data == profile.json()
    assert messages["address.created"].data == address
    assert messages["address.updated"].data == updated.json()
    assert messages["address.deleted"].data == {"user_id": str(user.user_id), "address_id": address["id"]}
    assert messages["exchange_rate.created"].data == rate
    assert len({m.id for m in receiver.received()}) == 5
    assert receiver.forged == []


async def test_each_account_event_fires_once_for_its_change(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    await add_endpoint(
        hooks_client, admin, receiver, events=[name for name in EVENT_TYPES if name.startswith("user.")]
    )

    email = await register_verified(hooks_client, hooks_app)  # user.created, then user.email_verified
    headers = bearer(await login(hooks_client, email))
    user_id = (await hooks_client.get("/api/v1/auth/me", headers=headers)).json()["id"]
    account = f"/api/v1/admin/users/{user_id}"
    assert (await hooks_client.patch(account, json={"is_active": False}, headers=admin)).status_code == 200
    assert (await hooks_client.patch(account, json={"is_active": False}, headers=admin)).status_code == 200
    assert (await hooks_client.patch(account, json={"is_active": True}, headers=admin)).status_code == 200
    # The email change is published by auth's own feature; its event is delivered like the others.
    async with hooks_app.state.database.sessions() as session:
        await hooks_app.state.events.publish(
            session, auth_public.EmailChanged(uuid.UUID(user_id), "new@example.com")
        )
        await session.commit()
    # Delivered first: the deletion erases whatever names the user and is still waiting.
    await receiver.wait_for(5)
    headers = bearer(await login(hooks_client, email))
    deleted = await hooks_client.request(
        "DELETE", "/api/v1/auth/me", json={"password": PASSWORD}, headers=headers
    )
    assert deleted.status_code == 204, deleted.text

    await receiver.wait_for(1, "user.deleted")
    await asyncio.sleep(0.5)  # time for a stray or duplicate message to show
    messages = {m.type: m for m in receiver.received()}
    assert Counter(m.type for m in receiver.received()) == {
        "user.created": 1,
        "user.email_verified": 1,
        "user.deactivated": 1,  # once: the second PATCH changed nothing
        "user.reactivated": 1,
        "user.email_changed": 1,
        "user.deleted": 1,
    }
    created = messages["user.created"].data
    assert created.pop("created_at").endswith("Z")
    assert created == {"user_id": user_id, "email": email, "email_verified": False}
    assert messages["user.email_verified"].data == {"user_id": user_id, "email": email}
    assert messages["user.email_changed"].data == {"user_id": user_id, "email": "new@example.com"}
    for kind in ("user.deactivated", "user.reactivated", "user.deleted"):
        assert messages[kind].data == {"user_id": user_id}


async def test_an_address_that_loses_primary_is_announced_as_updated(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    await add_endpoint(hooks_client, admin, receiver, events=["address.updated"])
    user = await user_with_profile(hooks_app)
    first = await add_address(hooks_client, user)
    assert first["is_primary"]
    await add_address(hooks_client, user, is_primary=True)
    [lost] = await receiver.wait_for(1)
    assert lost.data["id"] == first["id"] and lost.data["is_primary"] is False


async def test_a_refused_message_comes_again_with_the_same_webhook_id(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    answers = iter([500, 200])

    async def answer(_: Message) -> int:
        return next(answers, 200)

    receiver = receivers(answer=answer)
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    endpoint = await add_endpoint(hooks_client, admin, receiver)
    await add_rate(hooks_client, admin)
    await receiver.wait_for(1)
    await asyncio.sleep(0.3)
    assert len(receiver.attempts) == 2
    assert receiver.attempts[0].id == receiver.attempts[1].id == receiver.messages[0].id
    assert receiver.attempts[0].body == receiver.attempts[1].body
    # Each try is signed anew (its own timestamp), and both verify.
    [delivered] = await wait_for_status(hooks_client, admin, endpoint, "delivered")
    assert delivered["attempts"] == 2 and delivered["last_status_code"] == 200
    assert delivered["event_id"] == receiver.messages[0].id


async def test_a_receiver_that_was_down_gets_everything_when_it_comes_back(
    hooks_app_with: HooksApp, receivers: Callable[..., Receiver]
) -> None:
    async with hooks_app_with(webhook_retry_schedule=[0.2] * 50) as app, http_client(app) as client:
        admin = (await signed_in_user(app, role="admin")).headers
        down = Receiver()  # its port is free: nothing listens yet
        endpoint = await add_endpoint(client, admin, down)
        for _ in range(3):
            await add_rate(client, admin)
        tried = await wait_for_status(client, admin, endpoint, "pending", 3)

        async def tried_twice() -> list[Any] | None:
            listed = await deliveries(client, admin, endpoint)
            return listed if all(d["attempts"] >= 2 for d in listed) else None

        if not all(d["attempts"] >= 2 for d in tried):
            tried = await wait_until_async(tried_twice, "every delivery tried twice", 10, 0.05)
        assert "ConnectError" in tried[0]["last_error"]
        receivers(port=down.port, secrets=down.secrets)  # back, on the same port
        await wait_for_status(client, admin, endpoint, "delivered", 3)


async def test_a_receiver_that_hangs_delays_no_other_endpoint(
    hooks_app_with: HooksApp, receivers: Callable[..., Receiver]
) -> None:
    released = threading.Event()

    async def hang(_: Message) -> int:
        while not released.is_set():  # until the test lets go (in the receiver's own thread)
            await asyncio.sleep(0.01)
        return 200

    # The timeout is longer than the test waits: every message the other endpoint gets, it gets
    # while both of the slow endpoint's sends still hang — no structure of timings, no wall clock.
    async with (
        hooks_app_with(
            webhook_endpoint_concurrency=2, webhook_concurrency=6, webhook_timeout_seconds=60
        ) as app,
        http_client(app) as client,
    ):
        admin = (await signed_in_user(app, role="admin")).headers
        slow, fast = receivers(answer=hang), receivers()
        await add_endpoint(client, admin, slow)
        await add_endpoint(client, admin, fast)
        try:
            for _ in range(2):
                await add_rate(client, admin)
            await wait_until_async(lambda: len(slow.attempts) == 2, "both slow sends under way", 30)
            for _ in range(8):
                await add_rate(client, admin)
            await fast.wait_for(10, timeout=30)
            assert len(slow.attempts) == 2 and slow.received() == []  # its two slots still held
        finally:
            released.set()
        await slow.wait_for(10, timeout=30)  # and once it answers, it gets the rest


async def test_rotation_signs_with_both_secrets_for_the_overlap_then_the_new_one_only(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    endpoint = await add_endpoint(hooks_client, admin, receiver)
    rotated = await hooks_client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", headers=admin)
    receiver.secrets.append(rotated.json()["secret"])
    await asyncio.sleep(1.1)  # the dispatcher sees the new secret within a second

    await add_rate(hooks_client, admin)
    [during] = await receiver.wait_for(1)
    assert during.verified_by == (0, 1)  # the old secret and the new one each verify it
    assert len(during.headers["webhook-signature"].split(" ")) == 2

    async with hooks_app.state.database.sessions() as session:  # the 24 hours are over
        await session.execute(
            text(
                "UPDATE webhooks.endpoints SET previous_secret_expires_at = now() - interval '1 second', "
                "updated_at = now() WHERE id = :id"
            ),
            {"id": endpoint["id"]},
        )
        await session.commit()
    await asyncio.sleep(1.1)
    await add_rate(hooks_client, admin)
    after = (await receiver.wait_for(2))[1]
    assert after.verified_by == (1,)  # only the new secret
    assert len(after.headers["webhook-signature"].split(" ")) == 1


async def test_redirects_are_not_followed(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    elsewhere = receivers()

    async def redirect(_: Message) -> tuple[int, dict[str, str]]:
        return 307, {"location": elsewhere.url}

    receiver = receivers(answer=redirect)
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    endpoint = await add_endpoint(hooks_client, admin, receiver)
    elsewhere.secrets.extend(receiver.secrets)
    await add_rate(hooks_client, admin)
    [failed] = await wait_for_status(hooks_client, admin, endpoint, "failed")
    assert failed["attempts"] == 3 and failed["last_status_code"] == 307
    assert len(receiver.attempts) == 3 and elsewhere.attempts == []


async def test_a_receiver_that_answers_after_the_timeout_is_tried_again_then_failed(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    # A 2xx later than WEBHOOK_TIMEOUT_SECONDS (1 s here) is not delivered (API.md).
    async def late(_: Message) -> int:
        await asyncio.sleep(1.5)
        return 200

    receiver = receivers(answer=late)
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    endpoint = await add_endpoint(hooks_client, admin, receiver)
    await add_rate(hooks_client, admin)
    [failed] = await wait_for_status(hooks_client, admin, endpoint, "failed")
    assert failed["attempts"] == 3 and failed["last_status_code"] is None
    assert failed["last_error"] == "no answer within 1 s"
    assert failed["delivered_at"] is None


async def test_a_connection_the_receiver_closed_is_not_sent_on_again(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    # The receiver closes a connection idle for 0.1 s; the dispatcher keeps it in its pool and must
    # see it closed (its socket readable) before the next message, else that message's first try
    # fails ("server disconnected") and it goes out on the second.
    receiver = receivers(keep_alive=0.1)
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    endpoint = await add_endpoint(hooks_client, admin, receiver)
    for count in (1, 2, 3):
        await add_rate(hooks_client, admin)
        await wait_for_status(hooks_client, admin, endpoint, "delivered", count)
        await asyncio.sleep(0.4)
    assert [d["attempts"] for d in await deliveries(hooks_client, admin, endpoint)] == [1, 1, 1]
    assert len(receiver.attempts) == 3


async def test_each_send_is_a_client_span_when_tracing(
    hooks_app: Any,
    hooks_client: httpx.AsyncClient,
    receivers: Callable[..., Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The dispatcher sends on httpcore's pool, which httpx's instrumentation does not see: its own
    # span stands for each send (the OTLP export itself: tests/ops/test_tracing.py).
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_provider", provider)
    receiver = receivers()
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    endpoint = await add_endpoint(hooks_client, admin, receiver)
    await add_rate(hooks_client, admin)
    await wait_for_status(hooks_client, admin, endpoint, "delivered")
    [span] = [s for s in exporter.get_finished_spans() if s.name == "webhook send"]
    assert span.kind == SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "server.address": "127.0.0.1",
        "server.port": receiver.port,
        "shop.webhook.endpoint_id": endpoint["id"],
        "http.response.status_code": 200,
    }


async def test_targets_are_checked_again_at_each_delivery(
    hooks_app_with: HooksApp, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    async with hooks_app_with(webhook_allow_private_targets=False) as app, http_client(app) as client:
        admin = (await signed_in_user(app, role="admin")).headers
        # Saved while loopback was allowed (or resolving elsewhere then): now it is not.
        lenient = app.state.settings.model_copy(update={"webhook_allow_private_targets": True})
        endpoints = []
        async with app.state.database.sessions() as session:
            for url in (receiver.url, receiver.url.replace("127.0.0.1", "localhost")):
                created = await EndpointService(session, lenient).create(url, ["*"], None)
                receiver.secrets.append(created.secret)
                endpoints.append({"id": str(created.endpoint.id)})
            await session.commit()
        await add_rate(client, admin)
        for endpoint in endpoints:
            [failed] = await wait_for_status(client, admin, endpoint, "failed")
            assert failed["last_error"].startswith("target not allowed")
            assert failed["last_status_code"] is None
        assert receiver.attempts == []


async def test_http_is_refused_again_at_each_delivery_in_production(
    hooks_app_with: HooksApp, receivers: Callable[..., Receiver]
) -> None:
    # API.md: https only in production, checked when a URL is saved and again at each delivery.
    receiver = receivers()
    settings = {
        "environment": "production",
        "webhook_allow_private_targets": True,
        "admin_mfa_required": False,
    }
    async with hooks_app_with(**settings) as app, http_client(app) as client:
        admin = (await signed_in_user(app, role="admin")).headers
        # Saved while http was allowed: now it is not.
        lenient = app.state.settings.model_copy(update={"webhook_allow_insecure": True})
        async with app.state.database.sessions() as session:
            created = await EndpointService(session, lenient).create(receiver.url, ["*"], None)
            await session.commit()
        receiver.secrets.append(created.secret)
        await add_rate(client, admin)
        endpoint = {"id": str(created.endpoint.id)}
        [failed] = await wait_for_status(client, admin, endpoint, "failed")
        assert failed["last_error"] == "target not allowed: the URL must use https"
        assert failed["last_status_code"] is None
        assert receiver.attempts == []


async def test_failed_after_the_last_try_then_retried_by_hand(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    status = {"now": 500}

    async def answer(_: Message) -> int:
        return status["now"]

    receiver = receivers(answer=answer)
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    endpoint = await add_endpoint(hooks_client, admin, receiver)
    await hooks_client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=admin)
    [failed] = await wait_for_status(hooks_client, admin, endpoint, "failed")
    assert failed["attempts"] == 3 and failed["last_status_code"] == 500 and failed["next_attempt_at"] is None
    assert len(receiver.attempts) == 3  # the first try and one per delay of the schedule

    status["now"] = 204
    retried = await hooks_client.post(
        f"{ENDPOINTS}/{endpoint['id']}/deliveries/{failed['id']}/retry", headers=admin
    )
    assert retried.status_code == 202
    [delivered] = await wait_for_status(hooks_client, admin, endpoint, "delivered")
    assert delivered["attempts"] == 4 and receiver.messages[0].type == "webhook.test"
    assert receiver.messages[0].data == {"endpoint_id": endpoint["id"]}

    metrics = (await hooks_client.get("/metrics")).text
    for outcome in ("delivered", "retried", "failed"):
        assert f'shop_webhook_deliveries_total{{outcome="{outcome}"}}' in metrics
    assert "shop_webhook_backlog" in metrics and "shop_webhook_oldest_pending_age_seconds" in metrics


async def test_account_deletion_leaves_only_the_user_deleted_message(
    hooks_app: Any, hooks_client: httpx.AsyncClient, receivers: Callable[..., Receiver]
) -> None:
    async def hang(_: Message) -> int:
        await asyncio.sleep(1.5)  # past the timeout (1 s)
        return 200

    # One receiver takes its messages (past deliveries), the other hangs (pending ones, in flight).
    receiver, hanging = receivers(), receivers(answer=hang)
    admin = (await signed_in_user(hooks_app, role="admin")).headers
    await add_endpoint(hooks_client, admin, receiver)
    await add_endpoint(hooks_client, admin, hanging)
    email = await register_verified(hooks_client, hooks_app)
    headers = bearer(await login(hooks_client, email))
    user_id = (await hooks_client.get("/api/v1/auth/me", headers=headers)).json()["id"]
    await hooks_client.patch(PROFILE, json={"last_name": "Byron"}, headers=headers)
    await hooks_client.post(ADDRESSES, json=address_body(), headers=headers)
    await receiver.wait_for(1, "address.created")
    async with hooks_app.state.database.sessions() as session:
        pending = await session.scalar(
            text("SELECT count(*) FROM webhooks.deliveries WHERE user_id = :u AND status = 'pending'"),
            {"u": uuid.UUID(user_id)},
        )
    assert pending >= 2  # the hanging receiver's, at least
    await add_rate(hooks_client, admin)  # names nobody: stays

    deleted = await hooks_client.request(
        "DELETE", "/api/v1/auth/me", json={"password": PASSWORD}, headers=headers
    )
    assert deleted.status_code == 204, deleted.text
    [gone] = await receiver.wait_for(1, "user.deleted")
    assert gone.data == {"user_id": user_id}

    async with hooks_app.state.database.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT type, user_id, body FROM webhooks.deliveries WHERE user_id = :u OR body LIKE :like"
                ),
                {"u": uuid.UUID(user_id), "like": f"%{user_id}%"},
            )
        ).all()
        kept = await session.scalar(
            text("SELECT count(*) FROM webhooks.deliveries WHERE type = 'exchange_rate.created'")
        )
    assert {row.type for row in rows} == {"user.deleted"} and len(rows) == 2  # one per endpoint
    assert email not in str([row.body for row in rows])
    assert kept == 2
