"""Work that runs beside the requests, in a loop of its own (the mail sender, auth's upkeep, the
signing keys' maintenance): started with the app's lifespan, stopped at its end after the pass under
way — never cut in the middle of a unit of work."""

from __future__ import annotations

import asyncio
import contextlib


class BackgroundLoop:
    """Subclasses give `name` and `_run`, which loops while `stopping` is false and waits with `pause`."""

    name = "background-loop"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def pause(self, seconds: float) -> None:
        """Wait `seconds`, or less when the loop is asked to stop meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self) -> None:
        raise NotImplementedError
