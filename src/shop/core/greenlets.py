"""Synchronous SQLAlchemy calls from async code, on greenlets that are kept for the next call.

SQLAlchemy's `greenlet_spawn` runs each call on a new greenlet. On Python 3.11 a new greenlet starts
a frame stack of its own, a 16 KiB chunk mapped for it and unmapped when it ends. Unmapping memory
makes the kernel flush that address range on every core where another thread of the process runs:
during a login storm, the hashing threads. The event loop then waits for the other core to answer
(issue #25: 38 % of the event loops' CPU in that wait, with the checkout and the check-in of each
of a login's two statements spawning one). A kept greenlet maps its chunk once.

`run_sync` is `greenlet_spawn` for a call whose greenlet can be reused: the call may await
(`sqlalchemy.util.await_only`) as under `greenlet_spawn`, its exceptions reach the caller, and it
sees the caller's context variables. Greenlets belong to a thread: each thread keeps its own."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from greenlet import GreenletExit, getcurrent, greenlet

T = TypeVar("T")

# Idle greenlets kept per thread. Calls run at once only while one of them awaits (a checkout that
# waits for a free connection, say); a greenlet beyond this many is let go when its call ends.
KEPT_PER_THREAD = 16


class _Kept(greenlet):  # type: ignore[misc]
    # What `await_only` looks for: it may hand an awaitable to this greenlet's parent.
    __sqlalchemy_greenlet_provider__ = True

    # The last call's outcome, until its caller takes it.
    value: Any = None
    error: BaseException | None = None


# What a kept greenlet hands back when its call is over (anything else is an awaitable to await).
_FINISHED = object()


def _serve(function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """A kept greenlet's life: run a call, leave its outcome, wait for the next. Between calls it
    holds nothing of the last one."""
    runner = getcurrent()
    while True:
        try:
            runner.value = function(*args)
        except GreenletExit:
            raise  # the greenlet itself is let go
        except BaseException as error:  # the caller raises it
            runner.error = error
        del function, args
        function, args = runner.parent.switch(_FINISHED)


_local = threading.local()


def _idle() -> list[_Kept]:
    idle: list[_Kept] | None = getattr(_local, "idle", None)
    if idle is None:
        idle = _local.idle = []
    return idle


async def run_sync(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a kept greenlet, awaiting what it awaits."""
    idle = _idle()
    driver = getcurrent()
    if idle:
        runner = idle.pop()
        runner.parent = driver
    else:
        runner = _Kept(_serve, driver)
    runner.gr_context = driver.gr_context
    awaited = runner.switch(function, args)
    while awaited is not _FINISHED:
        try:
            value = await awaited
        except BaseException:
            awaited = runner.throw(*sys.exc_info())
        else:
            awaited = runner.switch(value)
    value, error = runner.value, runner.error
    # An idle greenlet holds no request's context (nor what its variables hold), and no outcome.
    runner.gr_context = runner.value = runner.error = None
    if len(idle) < KEPT_PER_THREAD:
        idle.append(runner)
    if error is not None:
        raise error
    return cast(T, value)
