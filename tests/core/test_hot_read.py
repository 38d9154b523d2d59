"""HotRead and HotStatement, the reads and one-statement writes of the hot path that go to the driver
itself: where they run, what they return, and how their failures reach the error handlers (as
SQLAlchemy's would)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Integer, String, bindparam, delete, func, insert, literal, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from shop.core.db import Database, HotRead, HotStatement
from shop.core.problems import is_outage
from shop.localization.models import Language

# A bound parameter, and a literal, which the compiled statement sends as a parameter too.
_PROBE = HotRead(
    select(
        func.current_setting("transaction_read_only").label("read_only"),
        (bindparam("n", type_=Integer) + 1).label("next"),
        literal(41).label("literal"),
    )
)
_LANGUAGE = HotRead(select(Language.code, Language.name).where(Language.code == bindparam("code")))
_BACKEND = HotRead(select(func.pg_backend_pid().label("pid")))
_DIVIDE = HotRead(select((literal(1) / bindparam("d", type_=Integer)).label("q")))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(database_url, pool_size=1)
    yield database
    await database.dispose()


async def test_an_unused_session_reads_on_a_connection_of_its_own_in_autocommit(database: Database) -> None:
    async with database.read_sessions() as session:
        assert await _PROBE.first(session, {"n": 1}) == {"read_only": "off", "next": 2, "literal": 41}
        assert await _PROBE.all(session, {"n": 5}) == [{"read_only": "off", "next": 6, "literal": 41}]
        # The session itself never began: nothing to commit or close at the end of the request.
        assert not session.in_transaction()


async def test_behind_a_pooler_the_read_has_a_transaction_of_its_own(database_url: str) -> None:
    # Outside a transaction, a transaction pooler may send the statement's prepare and its
    # execution to two different server connections.
    database = Database.from_url(f"{database_url}?prepared_statement_cache_size=0", pool_size=1)
    try:
        async with database.read_sessions() as session:
            assert await _PROBE.first(session, {"n": 1}) == {"read_only": "on", "next": 2, "literal": 41}
    finally:
        await database.dispose()


async def test_a_session_in_a_transaction_is_read_through(database: Database) -> None:
    async with database.sessions() as session:
        await session.execute(insert(Language).values(code="zq", name="Probe", native_name="Probe"))
        # The row is not committed: only the session's own transaction sees it.
        assert await _LANGUAGE.first(session, {"code": "zq"}) == {"code": "zq", "name": "Probe"}
        await session.rollback()
    async with database.read_sessions() as session:
        assert await _LANGUAGE.first(session, {"code": "zq"}) is None


async def test_a_failing_statement_is_a_database_error_and_the_connection_stays(database: Database) -> None:
    async with database.read_sessions() as session:
        before = await _BACKEND.first(session, {})
        with pytest.raises(DBAPIError) as caught:
            await _DIVIDE.first(session, {"d": 0})
        assert caught.value.orig.sqlstate == "22012"  # type: ignore[union-attr]  # division_by_zero
        assert not is_outage(caught.value)  # a bug (500), not an outage
        assert await _BACKEND.first(session, {}) == before  # the pool's one connection, still good


async def test_a_broken_connection_is_an_outage_and_leaves_the_pool(
    database: Database, database_url: str
) -> None:
    async with database.read_sessions() as session:
        before = await _BACKEND.first(session, {})
        assert before is not None
        admin = create_async_engine(database_url)
        try:
            async with admin.connect() as connection:
                await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": before["pid"]})
        finally:
            await admin.dispose()
        with pytest.raises(OperationalError) as caught:
            await _BACKEND.first(session, {})
        assert caught.value.connection_invalidated
        assert is_outage(caught.value)  # 503 service_unavailable
        after = await _BACKEND.first(session, {})  # a fresh connection took its place
        assert after is not None and after["pid"] != before["pid"]


# HotStatement: a one-statement request's write, on the driver. A parameter of a type with a bind
# processor (JSONB) is sent as SQLAlchemy sends it.
_ADD_LANGUAGE = HotStatement(
    text(
        "INSERT INTO localization.languages (code, name, native_name) "
        "SELECT :code, CAST(:doc AS jsonb) ->> 'name', 'Probe' "
        "RETURNING code, name, current_setting('transaction_read_only') AS read_only"
    ).bindparams(bindparam("code", type_=String), bindparam("doc", type_=JSONB))
)


async def _forget_language(database: Database, code: str) -> None:
    async with database.unit_of_work() as session:
        await session.execute(delete(Language).where(Language.code == code))


async def test_a_statement_writes_by_itself_in_autocommit(database: Database) -> None:
    try:
        async with database.statement_sessions() as session:
            row = await _ADD_LANGUAGE.first(session, {"code": "zr", "doc": {"name": "Written"}})
            assert row == {"code": "zr", "name": "Written", "read_only": "off"}
            assert not session.in_transaction()  # the session never began: nothing to commit
        # Committed by itself: a session of its own reads it.
        async with database.read_sessions() as session:
            assert await _LANGUAGE.first(session, {"code": "zr"}) == {"code": "zr", "name": "Written"}
    finally:
        await _forget_language(database, "zr")


async def test_behind_a_pooler_the_statement_has_a_writing_transaction_of_its_own(database_url: str) -> None:
    database = Database.from_url(f"{database_url}?prepared_statement_cache_size=0", pool_size=1)
    try:
        async with database.statement_sessions() as session:
            row = await _ADD_LANGUAGE.first(session, {"code": "zs", "doc": {"name": "Pooled"}})
            assert row == {"code": "zs", "name": "Pooled", "read_only": "off"}
        async with database.read_sessions() as session:
            assert await _LANGUAGE.first(session, {"code": "zs"}) == {"code": "zs", "name": "Pooled"}
    finally:
        await _forget_language(database, "zs")
        await database.dispose()


async def test_a_session_in_a_transaction_sends_the_statement_itself(database: Database) -> None:
    async with database.sessions() as session:
        await session.execute(text("SELECT 1"))
        row = await _ADD_LANGUAGE.first(session, {"code": "zt", "doc": {"name": "Inside"}})
        assert row == {"code": "zt", "name": "Inside", "read_only": "off"}
        await session.rollback()  # the statement was the session's: undone with it
    async with database.read_sessions() as session:
        assert await _LANGUAGE.first(session, {"code": "zt"}) is None
