"""Database round trips per request, counted on the wire.

A TCP proxy between shop and PostgreSQL reads the frontend protocol: each simple `Query` message and
each `Sync` (the end of an extended-protocol batch) is one round trip the client waits for. So a
`BEGIN`, a pool pre-ping, a statement and a `COMMIT` each count, whatever the ORM does to send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import make_url

from tests.support.app import AppWith, http_client

T = TypeVar("T")

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class CountingProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.counts: Counter[str] = Counter()
        # What was sent, in order: simple queries, and each bound prepared statement's SQL.
        self.trace: list[str] = []
        self._statements: dict[bytes, str] = {}
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def round_trips(self) -> int:
        return self.counts["Q"] + self.counts["S"]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        tasks = [
            asyncio.create_task(self._frontend(client_reader, server_writer, server_reader, client_writer)),
            asyncio.create_task(self._pipe(server_reader, client_writer)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (client_writer, server_writer):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def _frontend(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        server_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> None:
        # Untyped start-up messages first (SSLRequest answered 'N' by a server without TLS, then the
        # StartupMessage); typed messages after that.
        while True:
            header = await reader.readexactly(8)
            length, code = struct.unpack("!II", header)
            body = await reader.readexactly(length - 8)
            writer.write(header + body)
            await writer.drain()
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                continue
            if code == CANCEL_REQUEST:
                return
            break
        while True:
            kind = await reader.readexactly(1)
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            self.counts[kind.decode()] += 1
            self._note(kind, body)
            writer.write(kind + struct.pack("!I", length) + body)
            await writer.drain()

    def _note(self, kind: bytes, body: bytes) -> None:
        if kind == b"Q":
            self.trace.append(body.split(b"\0", 1)[0].decode(errors="replace"))
        elif kind == b"P":
            name, query = body.split(b"\0", 2)[:2]
            self._statements[name] = query.decode(errors="replace")
        elif kind == b"B":
            _portal, name = body.split(b"\0", 2)[:2]
            self.trace.append(self._statements.get(name, "?"))
        elif kind == b"S":
            self.trace.append("<sync>")


def proxied_url(url: str, port: int) -> str:
    # No TLS through the proxy: it must read the messages.
    parsed = make_url(url).set(host="127.0.0.1", port=port)
    query = dict(parsed.query)
    query["ssl"] = "disable"
    return parsed.set(query=query).render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def counted_app(
    app_with: AppWith, database_url: str
) -> AsyncIterator[tuple[CountingProxy, Any, httpx.AsyncClient]]:
    """A live app whose database connections go through a `CountingProxy`, and a client of it."""
    parsed = make_url(database_url)
    proxy = CountingProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.start()
    try:
        async with (
            app_with(live=True, database_url=proxied_url(database_url, proxy.port)) as app,
            http_client(app) as client,
        ):
            yield proxy, app, client
    finally:
        await proxy.stop()


async def last_request_trips(
    proxy: CountingProxy,
    request: Callable[[T], Awaitable[object]],
    prepare: Callable[[], Awaitable[T]],
    times: int = 4,
) -> tuple[int, list[str]]:
    """The round trips, and the statements sent, of the last of `times` runs of `request` given what
    `prepare` made before it, uncounted (the first runs prepare the statements on their pooled
    connection). The statements come whitespace-collapsed, without the Syncs."""
    count, trace = 0, []
    for _ in range(times):
        prepared = await prepare()
        before, mark = proxy.round_trips, len(proxy.trace)
        await request(prepared)
        count, trace = proxy.round_trips - before, proxy.trace[mark:]
    return count, [" ".join(sent.split()) for sent in trace if sent != "<sync>"]
