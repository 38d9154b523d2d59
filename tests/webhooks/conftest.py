"""Fixtures of the webhooks tests: the app with its dispatcher running (its own pool, as `live_app`),
with settings for quick tries, and receivers on loopback that stop after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from tests.support.app import AppWith, http_client
from tests.support.webhooks import QUICK, HooksApp, Receiver


@pytest.fixture
def hooks_app_with(app_with: AppWith) -> HooksApp:
    """`async with hooks_app_with(**settings) as app`: the app with its dispatcher, quick tries."""

    def make(**overrides: Any) -> AbstractAsyncContextManager[Any]:
        return app_with(live=True, loops=True, **{**QUICK, **overrides})

    return make


@pytest.fixture
async def hooks_app(hooks_app_with: HooksApp) -> AsyncIterator[Any]:
    async with hooks_app_with() as application:
        yield application


@pytest.fixture
async def hooks_client(hooks_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(hooks_app) as client:
        yield client


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """`receivers(answer=...)`: a started receiver, stopped after the test."""
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
