"""Synchronous SQLAlchemy calls on kept greenlets (`run_sync`, issue #25): each call may await as
under SQLAlchemy's `greenlet_spawn`, raises to its caller, sees the caller's context variables and
keeps none of them; the next call runs on the same greenlet, so no frame stack is mapped and unmapped
per call."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from typing import Any

import pytest
from greenlet import getcurrent
from sqlalchemy import event
from sqlalchemy.util import await_only

from shop.core.db import Database
from shop.core.greenlets import run_sync

REQUEST: contextvars.ContextVar[object] = contextvars.ContextVar("request")


class Held:
    """Something a request's context holds."""


def _sleep_then(value: int) -> tuple[int, object]:
    await_only(asyncio.sleep(0))
    return value * 2, getcurrent()


async def test_a_call_awaits_returns_and_the_next_runs_on_the_same_greenlet() -> None:
    first, where = await run_sync(_sleep_then, 21)
    second, again = await run_sync(_sleep_then, 1)
    assert (first, second) == (42, 2)
    assert again is where
    assert where is not getcurrent()


async def test_calls_at_once_run_on_greenlets_of_their_own() -> None:
    release = asyncio.Event()
    entered: list[object] = []

    def wait_for_release(name: str) -> str:
        entered.append(getcurrent())
        await_only(release.wait())
        return name

    calls = [asyncio.create_task(run_sync(wait_for_release, name)) for name in ("a", "b")]
    while len(entered) < 2:
        await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*calls) == ["a", "b"]
    assert entered[0] is not entered[1]


async def test_an_error_reaches_the_caller_and_the_greenlet_serves_on() -> None:
    def fails() -> None:
        await_only(asyncio.sleep(0))
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        await run_sync(fails)
    assert (await run_sync(_sleep_then, 2))[0] == 4


async def test_a_cancelled_call_unwinds_and_the_next_one_runs() -> None:
    unwound = asyncio.Event()

    def waits_forever() -> None:
        try:
            await_only(asyncio.Event().wait())
        finally:
            unwound.set()

    call = asyncio.create_task(run_sync(waits_forever))
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert unwound.is_set()
    assert (await run_sync(_sleep_then, 3))[0] == 6


async def test_a_call_sees_the_callers_context_and_the_kept_greenlet_holds_none_of_it() -> None:
    async def request() -> tuple[bool, weakref.ref[Held]]:
        held = Held()
        REQUEST.set(held)
        seen = await run_sync(lambda: REQUEST.get(None) is held)
        return seen, weakref.ref(held)

    task = asyncio.create_task(request(), context=contextvars.Context())
    seen, held = await task
    assert seen is True
    del task
    for _ in range(2):  # the loop lets go of the finished task at its next turn
        await asyncio.sleep(0)
    gc.collect()
    assert held() is None, "the kept greenlet still holds the request's context"


async def test_the_pools_checkouts_of_hot_reads_run_on_one_kept_greenlet(database_url: str) -> None:
    database = Database.from_url(database_url)
    where: list[Any] = []
    event.listen(database.engine.sync_engine, "checkout", lambda *_: where.append(getcurrent()))
    try:
        for _ in range(3):
            assert [tuple(row) for row in await database.fetch("SELECT 1", [])] == [(1,)]
    finally:
        await database.dispose()
    assert len(where) == 3 and where[0] is where[1] is where[2], where
