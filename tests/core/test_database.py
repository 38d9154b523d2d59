"""The database plumbing of the hot path: reads without a transaction of their own, writes refused
in a read session, and the guard's one statement serving GET /me."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.auth.passwords import HASHING_NICE, HashingSlots, PasswordHasher, hashing_threads
from shop.core.config import HASHING_SLOTS_ENV, Settings
from shop.core.db import Database
from shop.core.problems import is_outage
from shop.localization.models import Language
from tests.support.auth import bearer, login, register_verified


async def test_a_read_session_runs_each_statement_in_its_own_transaction(database_url: str) -> None:
    database = Database.from_url(database_url, pool_size=1)
    try:
        async with database.read_sessions() as session:
            first = await session.scalar(text("SELECT txid_current()"))
            second = await session.scalar(text("SELECT txid_current()"))
            assert first != second  # autocommit: no BEGIN … COMMIT around the reads
        async with database.sessions() as session:
            first = await session.scalar(text("SELECT txid_current()"))
            second = await session.scalar(text("SELECT txid_current()"))
            assert first == second  # a write session is one transaction
    finally:
        await database.dispose()


async def test_a_read_session_refuses_to_write(database_url: str) -> None:
    database = Database.from_url(database_url, pool_size=1)
    try:
        async with database.read_sessions() as session:
            with pytest.raises(RuntimeError, match="must not write"):
                await session.execute(update(Language).where(Language.code == "xx").values(is_active=False))
    finally:
        await database.dispose()


async def test_a_one_statement_session_runs_in_autocommit_and_refuses_a_second_write(
    database_url: str,
) -> None:
    database = Database.from_url(database_url, pool_size=1)
    unchanged = update(Language).where(Language.code == "xx").values(is_active=False)
    try:
        async with database.statement_sessions() as session:
            first = await session.scalar(select(func.txid_current()))
            second = await session.scalar(select(func.txid_current()))
            assert first != second  # no BEGIN … COMMIT: its one write is its transaction
            await session.execute(unchanged)
            with pytest.raises(RuntimeError, match="second writing statement"):
                await session.execute(unchanged)
    finally:
        await database.dispose()


@asynccontextmanager
async def statements(engine: AsyncEngine, db: Database) -> AsyncIterator[list[str]]:
    """Every statement sent on the test's connection: SQLAlchemy's, and the hot path's, which go to
    the driver directly (asyncpg's query logger sees those, and SQLAlchemy's BEGIN and SAVEPOINT)."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    def logged(query: Any) -> None:
        seen.append(query.query)

    assert db.bind is not None
    driver = (await db.bind.get_raw_connection()).driver_connection
    event.listen(engine.sync_engine, "before_cursor_execute", note)
    driver.add_query_logger(logged)
    try:
        yield seen
        await asyncio.sleep(0)  # the driver calls its loggers soon, not at once
    finally:
        driver.remove_query_logger(logged)
        event.remove(engine.sync_engine, "before_cursor_execute", note)


def _sent(seen: list[str]) -> list[str]:
    """Without the test's savepoints around the request, which are not the app's."""
    return [s.lstrip() for s in seen if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))]


async def test_get_me_is_the_guards_one_statement(
    client: httpx.AsyncClient, app: Any, engine: AsyncEngine, db: Database
) -> None:
    email = await register_verified(client, app)
    headers = bearer(await login(client, email))
    async with statements(engine, db) as seen:
        response = await client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["email"] == email
    # The guard's statement (live session, active user) reads the account /me answers with.
    sent = _sent(seen)
    assert len(sent) == 1, seen
    assert "auth.users" in sent[0] and "auth.sessions" in sent[0]
    # Only whether there is one (`has_password`): the hash itself never leaves the database.
    assert sent[0].count("password_hash") == sent[0].count("password_hash IS NOT NULL") == 1


async def test_refresh_is_one_statement(
    client: httpx.AsyncClient, app: Any, engine: AsyncEngine, db: Database
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    async with statements(engine, db) as seen:
        response = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == email
    sent = _sent(seen)
    # The token, its session and the user read, the token claimed, the session extended and its next
    # token added: one statement.
    assert len(sent) == 1, sent
    assert sent[0].startswith("WITH") and "auth.users" in sent[0]
    assert "UPDATE auth.refresh_tokens" in sent[0] and "UPDATE auth.sessions" in sent[0]
    assert "INSERT INTO auth.refresh_tokens" in sent[0]


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (8, 7)])
def test_a_lone_worker_leaves_a_core_for_its_event_loop(cores: int, threads: int) -> None:
    assert hashing_threads(1, cores) == threads


@pytest.mark.parametrize(("cores", "workers"), [(2, 2), (8, 2), (8, 4), (2, 4)])
def test_each_of_several_workers_may_hash_on_every_core(cores: int, workers: int) -> None:
    # The kernel may hand one worker every connection of a login storm: it must not leave cores idle.
    assert hashing_threads(workers, cores) == cores


async def test_hashing_threads_yield_the_cpu_to_the_event_loop(settings: Settings) -> None:
    def nice_of_this_thread() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    hasher = PasswordHasher(settings)
    in_pool = await hasher._run(nice_of_this_thread)
    assert in_pool == min(19, nice_of_this_thread() + HASHING_NICE)
    matches, _ = await hasher.verify("a long enough password", await hasher.hash("a long enough password"))
    assert matches


class _RefusedByServer(Exception):
    sqlstate = "53300"  # too_many_connections: PostgreSQL's "sorry, too many clients already"


def test_a_server_out_of_connections_is_an_outage() -> None:
    refused = DBAPIError("connect", None, _RefusedByServer("sorry, too many clients already"))
    assert is_outage(refused)  # 503 service_unavailable, not a 500
    assert not is_outage(DBAPIError("select", None, ValueError("a bug")))


def test_workers_take_turns_at_the_cores(tmp_path: Path) -> None:
    """Two workers' slots (each its own HashingSlots, as each worker opens the files itself) on 2
    cores: never more than 2 computations at once among them, and both cores in use."""
    lock = threading.Lock()
    running = 0
    most = 0

    def compute() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1

    workers = [HashingSlots(str(tmp_path), 2), HashingSlots(str(tmp_path), 2)]
    with ThreadPoolExecutor(8) as pool:  # each worker's 2 threads, twice over
        list(pool.map(lambda number: workers[number % 2].run(compute), range(64)))
    assert most == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["slot-0", "slot-1"]


def test_a_lone_worker_takes_no_slots(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(HASHING_SLOTS_ENV, str(tmp_path))
    assert PasswordHasher(settings)._slots is None
    assert PasswordHasher(settings.model_copy(update={"web_concurrency": 2}))._slots is not None
