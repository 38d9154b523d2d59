"""The rules of the webhooks context: endpoints (saved only for allowed targets, their secrets sealed
and shown once) and the recording of messages, inside the transaction of the change that causes them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from shop.core.config import Settings
from shop.core.errors import NotFound
from shop.webhooks.errors import WebhookTargetNotAllowed
from shop.webhooks.models import Delivery, Endpoint
from shop.webhooks.repository import DeliveryRepository, EndpointRepository
from shop.webhooks.schemas import EventType
from shop.webhooks.signing import ROTATION_OVERLAP_SECONDS, SecretSeal, new_secret
from shop.webhooks.targets import check_url

# The event types an endpoint may take ("*": all of them). `webhook.test` goes only where it is asked.
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
TEST_EVENT = "webhook.test"


def message_body(event_type: str, data: Mapping[str, Any], at: datetime | None = None) -> str:
    """The message as sent on every try: `{type, timestamp, data}` (the timestamp: when it happened)."""
    timestamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"))


async def record(
    session: AsyncSession, event_type: str, data: Mapping[str, Any], *, user_id: uuid.UUID | None = None
) -> uuid.UUID:
    """Record the message for every active endpoint that takes `event_type`, inside the caller's
    transaction; its id (the `webhook-id` of every try). `user_id`: the user it names (erasure)."""
    event_id = uuid.uuid4()
    await DeliveryRepository(session).record(event_id, event_type, user_id, message_body(event_type, data))
    return event_id


async def erase_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Delete every delivery, pending or past, that names the user."""
    return await DeliveryRepository(session).erase_user(user_id)


@dataclass(frozen=True, slots=True)
class NewSecret:
    endpoint: Endpoint
    secret: str


class EndpointService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.endpoints = EndpointRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.seal = SecretSeal(settings.signing_key())

    async def _check(self, url: str) -> None:
        problem = await check_url(url, self.settings)
        if problem is not None:
            raise WebhookTargetNotAllowed(problem)

    async def list_all(self) -> Sequence[Endpoint]:
        return await self.endpoints.list_all()

    async def get(self, endpoint_id: uuid.UUID) -> Endpoint:
        endpoint = await self.endpoints.get(endpoint_id)
        if endpoint is None:
            raise NotFound("The webhook endpoint was not found.")
        return endpoint

    async def create(self, url: str, events: list[str], description: str | None) -> NewSecret:
        await self._check(url)
        secret = new_secret()
        endpoint = await self.endpoints.add(url, _unique(events), description, self.seal.seal(secret))
        return NewSecret(endpoint, secret)

    async def update(self, endpoint_id: uuid.UUID, values: dict[str, Any]) -> Endpoint:
        endpoint = await self.get(endpoint_id)
        if "url" in values:
            await self._check(values["url"])
        if "events" in values:
            values["events"] = _unique(values["events"])
        return await self.endpoints.update(endpoint, values)

    async def delete(self, endpoint_id: uuid.UUID) -> None:
        if not await self.endpoints.delete(endpoint_id):
            raise NotFound("The webhook endpoint was not found.")

    async def rotate_secret(self, endpoint_id: uuid.UUID) -> str:
        """A new secret signs from now on; the current one goes on signing beside it for 24 hours."""
        endpoint = await self.get(endpoint_id)
        secret = new_secret()
        await self.endpoints.update(
            endpoint,
            {
                "secret": self.seal.seal(secret),
                "previous_secret": endpoint.secret,
                "previous_secret_expires_at": datetime.now(UTC) + timedelta(seconds=ROTATION_OVERLAP_SECONDS),
            },
        )
        return secret

    async def send_test(self, endpoint_id: uuid.UUID) -> uuid.UUID:
        endpoint = await self.get(endpoint_id)
        event_id = uuid.uuid4()
        body = message_body(TEST_EVENT, {"endpoint_id": str(endpoint.id)})
        await self.deliveries.record_for(endpoint.id, event_id, TEST_EVENT, body)
        return event_id

    async def list_deliveries(self, endpoint_id: uuid.UUID, status: str | None) -> Sequence[Delivery]:
        await self.get(endpoint_id)
        return await self.deliveries.list_for(endpoint_id, status)

    async def retry(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
        await self.get(endpoint_id)
        if not await self.deliveries.retry(endpoint_id, delivery_id):
            raise NotFound("The delivery was not found.")


def _unique(events: list[str]) -> list[str]:
    return ["*"] if "*" in events else list(dict.fromkeys(events))
