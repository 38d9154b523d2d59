"""Waiting for something a server or a background task produces: poll until it is there, fail
naming it when it is not. The timeouts are liveness bounds (see net.py), never timing tests."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from tests.support.net import DELIVERY_SECONDS

T = TypeVar("T")
What = str | Callable[[], str]


def _said(what: What) -> str:
    return what if isinstance(what, str) else what()


def wait_until(
    condition: Callable[[], T], what: What, timeout: float = DELIVERY_SECONDS, interval: float = 0.1
) -> T:
    """Poll `condition()` until it gives a true value, and give that value; fail naming `what` (a
    callable is asked only then, for a log to show). `condition` may raise to fail at once."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout}s: {_said(what)}")
        time.sleep(interval)


async def wait_until_async(
    condition: Callable[[], Awaitable[T] | T],
    what: What,
    timeout: float = DELIVERY_SECONDS,
    interval: float = 0.02,
) -> T:
    """`wait_until` for an async test, with a condition that may be a coroutine function: the event
    loop runs while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout}s: {_said(what)}")
        await asyncio.sleep(interval)


def answering(
    url: str, process: subprocess.Popen[bytes] | None = None, output: Callable[[], str] = str
) -> Callable[[], bool]:
    """A condition for `wait_until`: `url` answers 200. Fails at once when `process` (the server
    behind `url`) has exited, with its `output`."""

    def check() -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{url}: the process exited with {process.returncode}:\n{output()}")
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check
