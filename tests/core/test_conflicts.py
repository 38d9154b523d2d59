"""`run_tries` on its own: what each try reads, how often it runs, and what it answers at the end;
and what a request's work outside the transaction does across its tries (`once`, `tally`). (The
real deadlocks and serialization failures it serves are in tests/reliability/test_deadlocks.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Receive, Scope, Send

from shop.core.conflicts import RETRIES, once, run_tries, tally
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


def _tried(app: ASGIApp) -> ASGIApp:
    async def tried(scope: Scope, receive: Receive, send: Send) -> None:
        await run_tries(app, scope, receive, send)

    return tried


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_tried(app), raise_app_exceptions=True)
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


class _Effects:
    """Fails its first try with a conflict after a rate-limit hit, an argon2 run and a metric
    count, each done through `once`/`tally`; counts what really ran."""

    def __init__(self, failures: int = 1) -> None:
        self.failures = failures
        self.tries = 0
        self.hits = 0
        self.hashes = 0
        self.counted = 0

    async def _hit(self) -> None:
        self.hits += 1

    async def _hash(self) -> str:
        self.hashes += 1
        return f"hash {self.hashes}"

    def _count(self) -> None:
        self.counted += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.tries += 1
        await once(("hit", "login"), self._hit)
        hashed = await once(("hash",), self._hash)
        tally(self._count)
        if self.tries <= self.failures:
            raise DBAPIError("UPDATE x", {}, _Orig("40001"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": hashed.encode()})


async def test_work_outside_the_transaction_runs_once_across_tries() -> None:
    app = _Effects()
    async with _client(app) as client:
        answer = await client.post("/x", content=b"x")
    assert answer.status_code == 200
    assert app.tries == 2
    # The hit and the hash of the first try are the second's; the first try's count is void.
    assert (app.hits, app.hashes, app.counted) == (1, 1, 1)
    assert answer.content == b"hash 1"


async def test_a_try_that_asks_for_something_else_runs_it() -> None:
    keys = iter([("hit", "a"), ("hit", "b")])
    runs: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        key = next(keys)

        async def hit() -> None:
            runs.append(key[1])

        await once(key, hit)
        if len(runs) == 1:
            raise DBAPIError("UPDATE x", {}, _Orig("40P01"))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with _client(app) as client:
        answer = await client.post("/x")
    assert answer.status_code == 204
    assert runs == ["a", "b"]


async def test_outside_a_request_everything_runs_at_once() -> None:
    app = _Effects()
    await once(("hit",), app._hit)
    await once(("hit",), app._hit)
    tally(app._count)
    assert (app.hits, app.counted) == (2, 1)
