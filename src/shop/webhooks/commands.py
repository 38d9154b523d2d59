"""`shop webhooks list|add|remove|test`: the admin routes of webhooks, for operators without an admin
token. They run the same service as the routes, in a transaction of their own; a refusal is one line
and a non-zero exit (`CommandFailed`)."""

from __future__ import annotations

import uuid

from shop.core.config import Settings
from shop.core.db import Database
from shop.core.errors import NotFound
from shop.webhooks.errors import WebhookTargetNotAllowed
from shop.webhooks.service import EVENT_TYPES, EndpointService


class CommandFailed(Exception):
    """What the command could not do, in one line."""


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandFailed(f"not an endpoint id: {value!r}") from None


async def run(
    settings: Settings,
    database: Database,
    action: str,
    argument: str | None,
    *,
    events: str,
    description: str | None,
) -> str:
    """Run through `shop.bootstrap.run_command`, as every command: it opens the database."""
    try:
        async with database.unit_of_work() as session:
            service = EndpointService(session, settings)
            if action == "list":
                lines = [
                    f"{e.id}  {'active' if e.is_active else 'paused'}  {e.url}  {','.join(e.events)}"
                    for e in await service.list_all()
                ]
                return "\n".join(lines) or "no webhook endpoints"
            if argument is None:
                raise CommandFailed(
                    f"`shop webhooks {action}` needs {'a URL' if action == 'add' else 'an id'}"
                )
            if action == "add":
                chosen = [name.strip() for name in events.split(",") if name.strip()]
                unknown = [name for name in chosen if name != "*" and name not in EVENT_TYPES]
                if unknown or not chosen:
                    raise CommandFailed(f"unknown event types {unknown}; known: *, {', '.join(EVENT_TYPES)}")
                created = await service.create(argument, chosen, description)
                return (
                    f"endpoint {created.endpoint.id}\nsecret {created.secret}\n"
                    "(the secret is shown only now: give it to the receiver)"
                )
            if action == "remove":
                await service.delete(_id(argument))
                return f"endpoint {argument} removed"
            event_id = await service.send_test(_id(argument))
            return f"webhook.test {event_id} queued for endpoint {argument}"
    except (NotFound, WebhookTargetNotAllowed) as error:
        raise CommandFailed(error.detail) from None
