"""RetryConflictsMiddleware on its own: what it replays, how often, and what it answers at the end.
(The real deadlocks it serves are in tests/reliability/test_deadlocks.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.exc import DBAPIError
from starlette.types import Receive, Scope, Send

from shop.core.conflicts import RETRIES, RetryConflictsMiddleware
from tests.support.problems import assert_problem


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class _Flaky:
    """Reads the whole body, then fails `failures` times with `sqlstate` (after answering has begun
    when `late`), then echoes the body."""

    def __init__(self, failures: int, sqlstate: str = "40P01", *, late: bool = False) -> None:
        self.failures = failures
        self.sqlstate = sqlstate
        self.late = late
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        if self.late:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        if len(self.bodies) <= self.failures:
            raise DBAPIError("SELECT 1", {}, _Orig(self.sqlstate))
        if not self.late:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=RetryConflictsMiddleware(app), raise_app_exceptions=True)
    return httpx.AsyncClient(transport=transport, base_url="http://shop.test")


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_conflict_is_run_again_with_the_same_body(sqlstate: str) -> None:
    app = _Flaky(RETRIES, sqlstate)
    async with _client(app) as client:
        answer = await client.post("/x", content=b"the body " * 1000)
    assert answer.status_code == 200
    assert answer.content == b"the body " * 1000
    assert app.bodies == [b"the body " * 1000] * (RETRIES + 1)


async def test_after_the_last_try_the_answer_is_503_with_retry_after() -> None:
    app = _Flaky(RETRIES + 1)
    async with _client(app) as client:
        answer = await client.post("/x", json={"a": 1})
    assert_problem(answer, 503, "service_unavailable")
    assert answer.headers["Retry-After"] == "1"
    assert len(app.bodies) == RETRIES + 1


@pytest.mark.parametrize(
    ("app", "why"), [(_Flaky(1, "23505"), "not a conflict"), (_Flaky(1, late=True), "answer begun")]
)
async def test_other_errors_and_late_conflicts_are_not_retried(app: _Flaky, why: str) -> None:
    async with _client(app) as client:
        with pytest.raises(DBAPIError):
            await client.post("/x", content=b"x")
    assert len(app.bodies) == 1, why
