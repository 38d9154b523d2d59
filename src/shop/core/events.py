"""A tiny in-process event bus. Events are published inside the caller's transaction, and every
handler joins it: the side effects commit or roll back with the change that caused them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

E = TypeVar("E")
Handler = Callable[[AsyncSession, Any], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[AsyncSession, E], Awaitable[None]]) -> None:
        if handler not in self._handlers[event_type]:
            self._handlers[event_type].append(handler)

    async def publish(self, session: AsyncSession, event: object) -> None:
        for handler in self._handlers.get(type(event), []):
            await handler(session, event)


bus = EventBus()
