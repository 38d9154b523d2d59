"""Request and response models of the webhooks admin routes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from shop.core.validation import RequestModel

# The event types an endpoint may take (the one list: `shop.webhooks.service.EVENT_TYPES` reads it).
EventType = Literal[
    "user.created",
    "user.email_verified",
    "user.email_changed",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "profile.updated",
    "address.created",
    "address.updated",
    "address.deleted",
    "exchange_rate.created",
]
# What an endpoint subscribes to: an event type, or "*" for all of them.
EventName = Literal["*", EventType]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        pattern=r"^https?://\S+$",
        description="Where messages are POSTed: https in production; a public address.",
        examples=["https://orders.example.com/hooks/shop"],
    ),
]
Events = Annotated[
    list[EventName],
    Field(min_length=1, max_length=20, description='The event types to send, or `["*"]` for all.'),
]
Description = Annotated[str | None, Field(max_length=500)]
UtcDatetime = Annotated[datetime, AfterValidator(lambda value: value.astimezone(UTC))]


class EndpointIn(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://orders.example.com/hooks/shop",
                    "events": ["user.deleted", "address.created"],
                    "description": "orders service",
                }
            ]
        },
    )

    url: Url
    events: Events
    description: Description = None


class EndpointUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_active": False}]})

    url: Url | None = None
    events: Events | None = None
    description: Description = None
    is_active: bool | None = None


_ENDPOINT_EXAMPLE: dict[str, JsonValue] = {
    "id": "7d0f3c1e-2b4a-4e8f-9c6d-1a2b3c4d5e6f",
    "url": "https://orders.example.com/hooks/shop",
    "events": ["user.deleted", "address.created"],
    "description": "orders service",
    "is_active": True,
    "created_at": "2026-12-05T10:00:00Z",
}
# Not a usable secret: 32 zero bytes.
_SECRET_EXAMPLE = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_ENDPOINT_EXAMPLE]})

    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    is_active: bool
    created_at: UtcDatetime


class EndpointCreated(EndpointOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_ENDPOINT_EXAMPLE, "secret": _SECRET_EXAMPLE}]}
    )

    secret: str = Field(
        description="The signing secret (`whsec_…`), shown only now: give it to the receiver."
    )


class SecretOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"secret": _SECRET_EXAMPLE}]})

    secret: str = Field(
        description="The new signing secret (`whsec_…`), shown only now. The previous one goes on "
        "signing beside it for 24 hours."
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "3e1d2c4b-5a6f-4b7c-8d9e-0f1a2b3c4d5e",
                    "event_id": "9b8a7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
                    "type": "user.deleted",
                    "status": "pending",
                    "attempts": 2,
                    "last_status_code": 503,
                    "last_error": "answered 503",
                    "next_attempt_at": "2026-12-05T10:35:05Z",
                    "created_at": "2026-12-05T10:00:00Z",
                    "delivered_at": "2026-12-05T10:40:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The message's `webhook-id`, the same on every try.")
    type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: UtcDatetime | None = Field(description="When it is tried next (pending only).")
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None
