"""The webhooks context's rules below HTTP: signatures the library verifies as they are, the target
rules, and the purge of finished deliveries."""

from __future__ import annotations

import ipaddress
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shop.core.config import Settings
from shop.core.db import Database
from shop.core.load import RequestLoad
from shop.webhooks.dispatcher import WebhookDispatcher
from shop.webhooks.models import Delivery
from shop.webhooks.repository import DeliveryRepository
from shop.webhooks.service import message_body
from shop.webhooks.signing import Signer, new_secret
from shop.webhooks.targets import refused_address


def test_both_secrets_of_a_rotation_verify_one_header() -> None:
    old, new = new_secret(), new_secret()
    body = message_body("user.deleted", {"user_id": str(uuid.uuid4())}).encode()
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer([new, old]).signature("msg_1", now, body),
    }
    assert Webhook(old).verify(body, headers)["type"] == "user.deleted"
    assert Webhook(new).verify(body, headers)["data"]
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body + b" ", headers)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("169.254.169.254", True),
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("fd00::1", True),
        ("fe80::1", True),
        ("224.0.0.1", True),
        ("0.0.0.0", True),  # noqa: S104  (an address refused, not bound)
        ("::ffff:10.0.0.1", True),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_the_addresses_refused(address: str, refused: bool) -> None:
    assert refused_address(ipaddress.ip_address(address)) is refused


async def test_finished_deliveries_are_purged_after_the_retention(db: Database) -> None:
    async with db.sessions() as session:
        endpoint_id = await session.scalar(
            text(
                "INSERT INTO webhooks.endpoints (url, events, secret) "
                "VALUES ('https://8.8.8.8/', ARRAY['*'], 'x') RETURNING id"
            )
        )
        for status, age_days in [("delivered", 40), ("failed", 40), ("pending", 40), ("delivered", 5)]:
            await session.execute(
                text(
                    "INSERT INTO webhooks.deliveries (endpoint_id, event_id, type, body, status, created_at) "
                    "VALUES (:e, gen_random_uuid(), 'webhook.test', '{}', :s, now() - make_interval(days => :d))"
                ),
                {"e": endpoint_id, "s": status, "d": age_days},
            )
        assert await DeliveryRepository(session).purge_finished(30) == 2
        left = (await session.scalars(select(Delivery.status).order_by(Delivery.status))).all()
    assert left == ["delivered", "pending"]


async def test_the_dispatcher_sends_at_a_background_pace_while_requests_are_served(
    settings: Settings, db: Database
) -> None:
    load = RequestLoad()
    dispatcher = WebhookDispatcher(settings, db, load)
    endpoints = [uuid.uuid4(), uuid.uuid4()]
    dispatcher._targets = dict.fromkeys(endpoints)  # type: ignore[arg-type]  # only their ids count here
    idle = dispatcher._room()
    assert idle == dict.fromkeys(endpoints, settings.webhook_endpoint_concurrency)
    load.active = 1  # a request under way
    assert dispatcher._room() == dict.fromkeys(endpoints, 1)  # one each: no endpoint waits for another
    load.active = 0
    load.last_ended = time.monotonic() - 1
    assert dispatcher._room() == idle
