"""Transactions PostgreSQL ended to resolve a conflict — a deadlock (SQLSTATE 40P01) or a
serialization failure (40001) — are tried again before anything is answered, and only the
transaction repeats.

Such an error says nothing about the request: the other transaction went on, and the same work a
moment later normally succeeds (and then gets its true answer, e.g. 401 when the other one deleted
the account). Lock orders are kept consistent where shop knows them (docs/RELIABILITY.md); this is
the net for the rest. After the last try the answer is 503 `service_unavailable` with
`Retry-After`: never a 500.

The unit of work of a request is its session (one transaction, committed before the answer), built
by the route's dependencies and used by the route's code, so a try runs that code again with a new
session (`run_tries`). What that code does outside the transaction happens once per request, not
once per try, through the request's `Tries`:
- `once(key, work)`: work whose outcome the tries share (a rate-limit hit, an argon2 hash or
  verify): the first try runs it, a later try that asks for the same thing in the same order gets
  the recorded outcome (its value, or its error raised again);
- `tally(effect)`: what a try only reports (metric counters): kept until the try ends, applied unless
  the try is tried again;
- `after_commit(session, effect)`: what must follow the write (removing saved mail files): run once
  the transaction committed, never for a try that rolled back.
Outside a request (commands, background work, tests calling services) each runs at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.core.errors import ServiceBusy
from shop.core.problems import error_response, is_conflict

logger = logging.getLogger("shop.request")

# Tries after the first. A deadlock victim's retry waits for the winner's locks, then runs alone.
RETRIES = 2

T = TypeVar("T")


class Tries:
    """One request's tries: the outcomes of its work outside the transaction, in the order asked,
    and the reports of the try under way."""

    __slots__ = ("_outcomes", "_position", "_reports")

    def __init__(self) -> None:
        self._outcomes: list[tuple[Hashable, bool, Any]] = []
        self._position = 0
        self._reports: list[Callable[[], None]] = []

    async def once(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        position = self._position
        self._position += 1
        if position < len(self._outcomes):
            recorded, failed, outcome = self._outcomes[position]
            if recorded == key:
                if failed:
                    raise outcome
                return outcome  # type: ignore[no-any-return]
            # This try went another way (it read something else): what the first one did after
            # this point is not this try's.
            del self._outcomes[position:]
        try:
            value = await work()
        except Exception as error:
            self._outcomes.append((key, True, error))
            raise
        self._outcomes.append((key, False, value))
        return value

    def count(self, effect: Callable[[], None]) -> None:
        self._reports.append(effect)

    def next_try(self) -> None:
        """The try was ended by a conflict: its reports are void, its outcomes are replayed."""
        self._position = 0
        self._reports.clear()

    def report(self) -> None:
        reports, self._reports = self._reports, []
        for effect in reports:
            effect()


_TRIES: ContextVar[Tries | None] = ContextVar("shop_tries", default=None)


async def once(key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
    """`work()` once per request however often its transaction is tried (module docstring). `key`
    names what is asked (the same key in the same place of a later try gets the first outcome)."""
    tries = _TRIES.get()
    if tries is None:
        return await work()
    return await tries.once(key, work)


def tally(effect: Callable[[], None]) -> None:
    """Report `effect()` (a metric counter's increment) for the try under way: now outside a
    request, else when the try ends without being tried again."""
    tries = _TRIES.get()
    if tries is None:
        effect()
    else:
        tries.count(effect)


def after_commit(session: AsyncSession, effect: Callable[[], object]) -> None:
    """Run `effect()` once `session`'s transaction has committed; never if it rolls back."""
    event.listen(session.sync_session, "after_commit", lambda _session: effect(), once=True)


class Progress:
    """Whether the answer of a request has begun (its `http.response.start` went out): `run_tries`
    keeps it, for a caller that must know too, without another wrapper around `send`."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False


async def run_tries(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    retries: int = RETRIES,
    progress: Progress | None = None,
) -> None:
    """Runs the app (the routes, behind their exception handlers, which let conflicts pass:
    `shop.core.problems`) for one request, and again with a new session when a conflict ended its
    transaction before the answer began. The body is read once and handed to every try."""
    tries = Tries()
    token = _TRIES.set(tries)
    answer = progress if progress is not None else Progress()
    read: list[Message] = []

    async def recording() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            read.append(message)
        return message

    async def watching(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.started = True
            tries.report()
        await send(message)

    try:
        for attempt in range(retries + 1):
            if attempt:
                tries.next_try()
            try:
                await app(scope, _replay_then(read, recording) if attempt else recording, watching)
                return
            except Exception as exc:
                if answer.started or not is_conflict(exc):
                    tries.report()
                    raise
                logger.warning(
                    "transaction ended by a conflict (%s) on %s; try %d of %d",
                    getattr(getattr(exc, "orig", None), "sqlstate", "?"),
                    scope.get("path"),
                    attempt + 1,
                    retries + 1,
                )
            # A little apart, so that two victims of one another do not meet again at once.
            await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311
    finally:
        _TRIES.reset(token)
    await error_response(ServiceBusy())(scope, receive, send)


def _replay_then(messages: list[Message], rest: Receive) -> Receive:
    """What an earlier try read, then whatever it had not read yet."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await rest()

    return replay
