"""The end of the shutdown grace (SHUTDOWN_GRACE_SECONDS): uvicorn cancels the requests still under
way. Each is answered 503 `service_unavailable` with `Retry-After` — the client may send it again, to
another instance — rather than uvicorn's bare 500 and a traceback in the log. Its transaction is
rolled back (the request's session ends on the cancellation), so nothing of it is half-written.
Best effort: uvicorn moves on to the app's shutdown without waiting for these answers, and a
cancellation that lands inside the commit itself cannot tell whether it was written."""

from __future__ import annotations

import asyncio
import logging

from starlette.responses import JSONResponse

from shop.core.errors import ShuttingDown
from shop.core.problems import error_response

logger = logging.getLogger("shop.request")


def taken_as_cut_off(path: str) -> bool:
    """Called on a CancelledError before the answer began (`RequestGuardMiddleware`): whether it is
    the server's cut-off, to be answered with `cut_off_response()`. Only the server's one
    cancellation of this task (`task.cancel()` at the end of the grace) is; a CancelledError raised
    by code, or a second cancellation, is not. The server awaits nothing from the task but its end:
    the answer is the request's last act, so the cancellation is taken as handled."""
    task = asyncio.current_task()
    if task is None or task.cancelling() != 1:
        return False
    task.uncancel()
    logger.warning("request cut off by the shutdown on %s", path)
    return True


def cut_off_response() -> JSONResponse:
    return error_response(ShuttingDown())
