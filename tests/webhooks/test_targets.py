"""The dispatcher's connections (`GuardedBackend`) over real sockets on loopback: what httpcore asks
of an idle connection — is its socket readable, i.e. did the receiver close it — answered right over
plain TCP and over TLS, and the bytes going through both ways."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpcore
import pytest

from shop.webhooks.targets import GuardedBackend
from tests.support.tls import self_signed
from tests.support.waiting import wait_until_async


@asynccontextmanager
async def echo_server(context: ssl.SSLContext | None) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """Echoes one line, then closes the connection when the test sets the event."""
    close = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        await close.wait()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], close
    finally:
        close.set()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_an_idle_connection_reads_readable_once_the_receiver_closed_it(
    tls: bool, tmp_path: Path
) -> None:
    server_context = client_context = None
    if tls:
        cert_file, key_file = self_signed(tmp_path)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(cert_file, key_file)
        client_context = ssl.create_default_context(cafile=str(cert_file))
    async with echo_server(server_context) as (port, close):
        stream: httpcore.AsyncNetworkStream = await GuardedBackend(allow_private=True).connect_tcp(
            "127.0.0.1", port, timeout=5
        )
        if client_context is not None:
            stream = await stream.start_tls(client_context, server_hostname="127.0.0.1", timeout=5)
            assert stream.get_extra_info("ssl_object") is not None
        await stream.write(b"ping\n", timeout=5)
        assert await stream.read(100, timeout=5) == b"ping\n"
        assert stream.get_extra_info("is_readable") is False  # open and idle
        close.set()

        async def readable() -> bool | None:
            return True if stream.get_extra_info("is_readable") else None

        await wait_until_async(readable, "the closed connection reads readable", 5, 0.01)
        await stream.aclose()
        assert stream.get_extra_info("is_readable") is True  # no socket left: closed
