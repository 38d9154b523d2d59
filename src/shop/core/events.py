"""A tiny in-process event bus. Events are published inside the caller's transaction, and every
handler joins it: the side effects commit or roll back with the change that caused them.

One bus per app (or CLI run), built by `shop.bootstrap` with every subscription written out there."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

E = TypeVar("E")
Handler = Callable[[AsyncSession, Any], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[AsyncSession, E], Awaitable[None]]) -> None:
        self._handlers[event_type].append(handler)

    async def publish(self, session: AsyncSession, event: object) -> None:
        for handler in self._handlers.get(type(event), []):
            await handler(session, event)


async def get_events(request: Request) -> EventBus:
    """The app's bus, for the services a request builds."""
    events: EventBus = request.app.state.events
    return events


EventsDep = Annotated[EventBus, Depends(get_events)]
