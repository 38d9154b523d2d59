"""Database plumbing: declarative Base with stable constraint names, engine, one session per request."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from asyncpg.exceptions import InternalClientError
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from sqlalchemy import MetaData, event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session
from sqlalchemy.sql import Select, TextClause

from shop.core.greenlets import run_sync

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def schemas() -> set[str]:
    """The schemas of every table registered on the metadata (import the models first)."""
    return {table.schema for table in Base.metadata.tables.values() if table.schema is not None}


# The key of a session's `info` that holds its `Database`.
_DATABASE = "shop.database"

# A pooled connection idle this long is pinged before use; a busy one is not (see _ping_if_idle).
PING_AFTER_IDLE_SECONDS = 5.0


def _statement_name() -> str:
    return f"__shop_{uuid.uuid4().hex}__"


# Behind a transaction-pooling PgBouncer, connections are shared between clients: a prepared
# statement named like asyncpg's default (`__asyncpg_stmt_1__`) would collide with another client's.
# Unique names cost nothing on a direct connection. (The statement cache is turned off in the URL:
# docs/RELIABILITY.md.)
POOLER_SAFE = {"prepared_statement_name_func": _statement_name}


def _behind_a_pooler(url: str) -> bool:
    """`?prepared_statement_cache_size=0` in DATABASE_URL says a transaction pooler sits in between:
    asyncpg's own statement cache (type introspection, pings) must then be off as well, or its
    default statement names collide on the pooler's shared server connections; and reads keep
    their transaction (`Database`)."""
    return make_url(url).query.get("prepared_statement_cache_size") == "0"


def _autocommitting(
    bind: AsyncEngine | AsyncConnection, sync_session_class: type[Session], info: dict[str, Any]
) -> async_sessionmaker[AsyncSession]:
    """Sessions of one kind (reads, one-statement writes) on `bind`, autocommitting where it does."""
    return async_sessionmaker(
        bind=bind,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
        sync_session_class=sync_session_class,
        info=info,
    )


class Database:
    """The engine and the session factories of one app (or one test)."""

    def __init__(
        self, engine: AsyncEngine, bind: AsyncConnection | None = None, *, autocommit_reads: bool = True
    ) -> None:
        self.engine = engine
        self.bind = bind
        self.reads_in_transactions = not autocommit_reads
        # A session knows its database: where `HotRead` takes a connection of its own.
        info = {_DATABASE: self}
        # Tests bind sessions to one connection whose transaction is rolled back afterwards.
        self.sessions = async_sessionmaker(
            bind=bind or engine,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
            info=info,
        )
        # Reads in autocommit: each statement is its own transaction, as every statement of a READ
        # COMMITTED transaction sees its own snapshot anyway, so a read sees exactly what it would
        # inside BEGIN … COMMIT and saves those two round trips. A test's bound connection keeps
        # its one transaction. Behind a transaction pooler reads keep BEGIN … COMMIT: outside a
        # transaction the pooler may hand a statement's prepare and its execution to two different
        # server connections ("prepared statement … does not exist").
        autocommit = bind or (
            engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit_reads else engine
        )
        self.read_sessions = _autocommitting(autocommit, _ReadSession, info)

        # The session of a request whose whole unit of work is one writing statement (a token
        # refresh): in autocommit that statement is the request's one transaction, atomic as any, and
        # BEGIN and COMMIT — two of its three round trips — are saved. Its reads (before the write, or
        # on a refusal's way) see committed data as a READ COMMITTED transaction's would. Behind a
        # transaction pooler it keeps BEGIN … COMMIT, as reads do.
        self.statement_sessions = _autocommitting(autocommit, _StatementSession, info)

    @classmethod
    def from_url(
        cls, url: str, *, pool_size: int = 20, pool_timeout: float = 10.0, connect_timeout: float = 5.0
    ) -> Database:
        """`pool_size`: the most connections this process holds, each kept open once opened;
        `pool_timeout`: how long a request waits for a free connection of the pool before it is
        answered 503 (the service is busy); `connect_timeout`: how long opening a connection may
        take before PostgreSQL counts as unreachable (503 too)."""
        pooled = _behind_a_pooler(url)
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            # No overflow: an overflow connection is closed as it comes back whenever the pool
            # already holds `pool_size` idle ones, so a load that hovers around the pool's size
            # opens and closes a connection every few requests (a backend process each: `make
            # bench` saw 40 a second, a third of the hottest authenticated read's throughput).
            max_overflow=0,
            # No pre-ping per checkout (with asyncpg it costs BEGIN, a ping and ROLLBACK: three round
            # trips per request): a connection that was idle is pinged (_ping_if_idle), and one that
            # breaks in use invalidates the whole pool, so the service recovers without a restart
            # when PostgreSQL comes back.
            pool_pre_ping=False,
            hide_parameters=True,  # errors must not carry hashes or emails into the logs
            pool_recycle=1800,
            pool_timeout=pool_timeout,
            connect_args={
                "timeout": connect_timeout,
                "command_timeout": 30,
                **POOLER_SAFE,
                **({"statement_cache_size": 0} if pooled else {}),
            },
        )
        event.listen(engine.sync_engine, "checkin", _note_checkin)
        event.listen(engine.sync_engine, "checkout", _ping_if_idle)
        return cls(engine, autocommit_reads=not pooled)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A short transaction of its own, committed when the block ends without an error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def fetch(self, sql: str, args: Sequence[Any], *, writes: bool = False) -> list[asyncpg.Record]:
        """Run one statement on the asyncpg driver of a pooled connection (`HotRead`, or with
        `writes` a `HotStatement`). The connection is checked out of the pool as it is, without a
        SQLAlchemy Connection around it (half the cost of the read otherwise), and the pool's calls
        run on kept greenlets (`run_sync`); the statement runs in autocommit, or in a transaction of
        its own behind a pooler (read-only unless it `writes`).
        Errors are raised as SQLAlchemy raises them, for the same handlers (an outage is a 503, told
        by its class or SQLSTATE), and a broken connection leaves the pool."""
        if self.bind is not None:  # a test's one connection, inside the transaction it rolls back
            pooled = await self.bind.get_raw_connection()
            return await _fetch(pooled.driver_connection, sql, args, in_transaction=False)
        pooled = await run_sync(self.engine.sync_engine.pool.connect)
        try:
            return await _fetch(
                pooled.driver_connection,
                sql,
                args,
                in_transaction=self.reads_in_transactions,
                readonly=not writes,
            )
        except OperationalError as error:
            await run_sync(pooled.invalidate, error.orig)
            raise
        except asyncio.CancelledError:
            # Cut off mid-statement (the shutdown's cut-off): what the driver is still busy with is
            # unknown, so the connection is not handed to the next request.
            await run_sync(pooled.invalidate)
            raise
        finally:
            await run_sync(pooled.close)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


def _note_checkin(dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A connection that sat in the pool may have been cut (a PostgreSQL restart, a proxy's idle
    timeout): ping it first. One used a moment ago is not pinged — that ping would cost more than
    the statements of a typical request. A failed ping makes the pool take a fresh connection."""
    checked_in = record.info.get("checked_in")
    if checked_in is None or time.monotonic() - checked_in < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        raise DisconnectionError() from exc


class _ReadSession(Session):
    """The session of a route that only reads: it refuses INSERT, UPDATE and DELETE, which in
    autocommit would each commit by themselves."""


@event.listens_for(_ReadSession, "do_orm_execute")
def _refuse_writes(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise RuntimeError("a route that only reads (ReadSessionDep) must not write")


class _StatementSession(Session):
    """The session of a one-statement request: it refuses a second statement that is not a plain
    SELECT, which in autocommit would commit apart from the first."""


@event.listens_for(_StatementSession, "do_orm_execute")
def _refuse_second_write(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    writes = state.session.info.get(_WRITES, 0) + 1
    if writes > 1:
        raise RuntimeError("a one-statement request must not send a second writing statement")
    state.session.info[_WRITES] = writes


_WRITES = "shop.writes"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one session, committed on success and rolled back on any error. Its kind is
    what the route says, not its HTTP method: a route that names the read session
    (`ReadSessionDep`, or `READS_ONLY` among its dependencies) gets one that only reads, without a
    transaction of its own; any other route gets a writing one. Every dependency of the request
    (the bearer guard's too) shares it."""
    database: Database = request.app.state.database
    route = request.scope.get("route")
    factory = (
        database.read_sessions if route is not None and _names_read_session(route) else database.sessions
    )
    async with _request_session(factory()) as session:
        yield session


async def get_read_session(
    session: Annotated[AsyncSession, Depends(get_session, scope="function")],
) -> AsyncSession:
    """The session of a route that only reads: naming it makes the request's session (`get_session`)
    a reading one, which refuses INSERT, UPDATE and DELETE."""
    if not is_read_session(session):  # pragma: no cover  (only when a test overrides get_session)
        raise RuntimeError("the request's session is not a read session")
    return session


def is_read_session(session: AsyncSession) -> bool:
    """Does `session` only read (the session of a route that named `ReadSessionDep`)?"""
    return isinstance(session.sync_session, _ReadSession)


# The attribute of a route that caches whether it names the read session (one walk per route).
_NAMES_READ_SESSION = "_shop_names_read_session"


def _names_read_session(route: Any) -> bool:
    known: bool | None = getattr(route, _NAMES_READ_SESSION, None)
    if known is None:
        dependant = getattr(route, "dependant", None)
        known = dependant is not None and _depends_on(dependant, get_read_session)
        setattr(route, _NAMES_READ_SESSION, known)
    return known


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


@asynccontextmanager
async def _request_session(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    try:
        yield session
        # An added object waits for the flush at commit without having begun a transaction.
        if session.in_transaction() or session.new or session.deleted:
            await session.commit()
    except BaseException:
        if session.in_transaction():
            await session.rollback()
        raise
    finally:
        # A session the request never used holds nothing: committing it would begin a transaction
        # only to end it, and closing it costs about as much (together ~140 µs, more than the
        # request's own work on the hot path).
        if session.in_transaction() or session.identity_map:
            await session.close()


async def get_statement_session(database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """The session of a route whose unit of work is one writing statement, which says so by depending
    on this: that statement runs in autocommit, without BEGIN and COMMIT (`Database`)."""
    async with _request_session(database.statement_sessions()) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is an
# error response, never a success answer for data that was not written.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
StatementSessionDep = Annotated[AsyncSession, Depends(get_statement_session, scope="function")]
# A route that only reads names one of these: its session refuses writes and begins no transaction.
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]
READS_ONLY = Depends(get_read_session)


_DRIVER_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


async def _fetch(
    driver: asyncpg.Connection, sql: str, args: Sequence[Any], *, in_transaction: bool, readonly: bool = True
) -> list[asyncpg.Record]:
    try:
        if not in_transaction:
            return await driver.fetch(sql, *args)  # type: ignore[no-any-return]
        async with driver.transaction(readonly=readonly):
            return await driver.fetch(sql, *args)  # type: ignore[no-any-return]
    except (asyncpg.PostgresError, asyncpg.InterfaceError, InternalClientError, OSError) as error:
        # A statement the server refused leaves the connection as it was; anything else (the
        # server went away, the protocol lost its step: "another operation is in progress") breaks it.
        refused = isinstance(error, asyncpg.PostgresError) and not isinstance(
            error, asyncpg.PostgresConnectionError
        )
        broken = driver.is_closed() or not refused
        kind = OperationalError if broken else DBAPIError
        raise kind(sql, None, error, connection_invalidated=broken) from error


class HotRead:
    """A read on the hot path (every authenticated request, the reads behind the busiest GETs): a
    Core statement compiled once to asyncpg's SQL and run on the driver itself, as a statement
    asyncpg prepares once per connection — one round trip and none of SQLAlchemy's per-call work
    (compile-cache lookup, execution context, result and ORM objects), which cost several times the
    query itself. Parameters go through their types' bind processors, as SQLAlchemy sends them
    (JSONB as its text). Rows come back as plain dicts keyed by the selected columns' names, with
    values as asyncpg decodes them: for UUIDs, text, booleans, integers, byte strings and
    timestamps, what SQLAlchemy gives (other types need a look first: docs/adr/0006).

    It needs the session only for where to read: a session that has begun a transaction (it wrote,
    or holds locks) is read through, so the read sees what the transaction sees; otherwise the read
    takes a pooled connection of its own (`Database.fetch`)."""

    __slots__ = ("_defaults", "_order", "_processors", "sql", "statement")
    _writes = False

    def __init__(self, statement: Select[*tuple[Any, ...]] | TextClause) -> None:
        compiled = statement.compile(dialect=_DRIVER_DIALECT)
        self.statement = statement
        self.sql = str(compiled)
        self._order = tuple(compiled.positiontup or ())
        self._defaults = dict(compiled.params)  # literals of the statement become parameters too
        processors = tuple(
            compiled.binds[name].type.dialect_impl(_DRIVER_DIALECT).bind_processor(_DRIVER_DIALECT)
            for name in self._order
        )
        self._processors = processors if any(processors) else None

    async def first(self, session: AsyncSession, params: Mapping[str, Any]) -> dict[str, Any] | None:
        rows = await self.all(session, params)
        return rows[0] if rows else None

    async def all(self, session: AsyncSession, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        if session.in_transaction():
            result = await session.execute(self.statement, params)
            return [dict(row) for row in result.mappings()]
        args = [params[name] if name in params else self._defaults[name] for name in self._order]
        if self._processors is not None:
            pairs = zip(args, self._processors, strict=True)
            args = [value if process is None else process(value) for value, process in pairs]
        database: Database = session.info[_DATABASE]
        records = await database.fetch(self.sql, args, writes=self._writes)
        return [dict(record) for record in records]


class HotStatement(HotRead):
    """The one writing statement of a one-statement request (`StatementSessionDep`) on the hot path,
    run on the driver as `HotRead` runs a read: in autocommit it is the request's transaction, as it
    would be through the session (behind a pooler, a transaction of its own). A session that has
    begun a transaction runs it itself. The statement must be the request's only write: the session's
    check of that (`_StatementSession`) does not see statements sent past it (docs/adr/0012)."""

    __slots__ = ()
    _writes = True
