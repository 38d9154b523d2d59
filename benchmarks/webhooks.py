"""Webhook deliveries per second to a local receiver, with one dispatcher (one worker's); and, with
--request-path, the reads a `shop serve` worker answers while a burst of messages drains, against the
same worker idle.

    python -m benchmarks.webhooks [--messages N] [--database-url URL] [--request-path]

A fresh database on the server of TEST_DATABASE_URL (or --database-url), migrated; a receiver in a
process of its own on loopback that verifies every message with `standardwebhooks` and answers 200;
N messages recorded at once (a burst); then the clock runs from the dispatcher's start until the
last is recorded as delivered."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import textwrap
import time

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.harness import BENCH_SECRET, free_port, http_status, shop_server
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.migrate import run_alembic
from shop.webhooks.dispatcher import WebhookDispatcher
from shop.webhooks.service import EndpointService

RECEIVER = textwrap.dedent(
    """
    import sys, uvicorn
    from standardwebhooks.webhooks import Webhook
    hook = Webhook(sys.argv[2])
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        if scope["path"] != "/health":
            hook.verify(body, {k.decode(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")
    """
)


async def _fresh_database(server_url: str) -> tuple[str, str]:
    """A new database on the server, migrated: its name and URL."""
    name = f"shop_bench_webhooks_{secrets.token_hex(4)}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await run_alembic(url, "upgrade", "head")
    return name, url


async def _drop_database(server_url: str, name: str) -> None:
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def _receiver(port: int, secret: str) -> subprocess.Popen[bytes]:
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port), secret])
    deadline = time.monotonic() + 30
    while http_status(f"http://127.0.0.1:{port}/health") != 200:
        assert time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.05)
    return receiver


_QUEUE = text(
    "INSERT INTO webhooks.deliveries (endpoint_id, event_id, type, body) "
    "SELECT :endpoint, gen_random_uuid(), 'webhook.test', "
    '\'{"type":"webhook.test","timestamp":"2026-12-05T00:00:00Z","data":{"n":\' || n || \'}}\' '
    "FROM generate_series(1, :count) AS n"
)


class Backlog:
    """A receiver on loopback for an endpoint of the bench's database, and bursts of messages for it:
    what `make bench` drains while it measures the request path."""

    def __init__(self, url: str, pool_size: int = 2) -> None:
        self.url = url
        self.database = Database.from_url(url, pool_size=pool_size)
        self.receiver: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.delivered: list[int] = []

    async def start(self) -> None:
        port = free_port()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            database_url=self.url,
            jwt_secret_key=BENCH_SECRET,
            webhook_allow_private_targets=True,
        )
        async with self.database.unit_of_work() as session:
            created = await EndpointService(session, settings).create(
                f"http://127.0.0.1:{port}/hook", ["*"], "bench"
            )
        self.endpoint = str(created.endpoint.id)
        self.receiver = _receiver(port, created.secret)

    async def burst(self, messages: int) -> None:
        async with self.database.unit_of_work() as session:
            await session.execute(_QUEUE, {"endpoint": self.endpoint, "count": messages})

    async def clear(self) -> None:
        """Counts what was delivered since the burst and drops the rest, so the next run starts idle."""
        async with self.database.unit_of_work() as session:
            delivered = await session.scalar(
                text("SELECT count(*) FROM webhooks.deliveries WHERE status = 'delivered'")
            )
            await session.execute(text("DELETE FROM webhooks.deliveries"))
        self.delivered.append(int(delivered or 0))

    async def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.terminate()
            self.receiver.wait()
        await self.database.dispose()


async def _reads_per_second(base: str, seconds: float, clients: int = 8) -> float:
    """GET /api/v1/languages (a read from the database) by `clients` clients at once."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=base) as http:
            while time.perf_counter() < deadline:
                response = await http.get("/api/v1/languages")
                assert response.status_code == 200
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def request_path(server_url: str, messages: int, seconds: float = 8.0) -> tuple[float, float, int]:
    """Reads per second of one `shop serve` worker idle and while `messages` drain; how many were
    delivered during the window."""
    name, url = await _fresh_database(server_url)
    backlog = Backlog(url)
    server = shop_server(
        "webhooks-request-path",
        url,
        1,
        env={
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_POLL_SECONDS": "0.05",
            # WEBHOOK_CONCURRENCY and the rest as the caller's environment sets them.
            **{key: value for key, value in os.environ.items() if key.startswith("WEBHOOK_")},
        },
    )
    try:
        await backlog.start()
        server.start()
        await _reads_per_second(server.base, 2.0)  # warm-up
        idle = await _reads_per_second(server.base, seconds)
        await backlog.burst(messages)
        busy = await _reads_per_second(server.base, seconds)
        await backlog.clear()
        return idle, busy, backlog.delivered[-1]
    finally:
        server.stop()
        await backlog.stop()
        await _drop_database(server_url, name)


async def measure(server_url: str, messages: int) -> tuple[float, float]:
    """Messages per second, and the dispatcher's CPU seconds per message (this process's CPU time
    while it drained: on a shared machine the rate follows the CPU the process was given)."""
    name, url = await _fresh_database(server_url)
    backlog = Backlog(url, pool_size=4)  # the dispatcher's too
    try:
        await backlog.start()
        await backlog.burst(messages)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            database_url=url,
            jwt_secret_key=BENCH_SECRET,
            webhook_allow_private_targets=True,
            webhook_poll_seconds=0.05,
        )
        dispatcher = WebhookDispatcher(settings, backlog.database)
        started, cpu = time.perf_counter(), time.process_time()
        dispatcher.start()
        while True:
            await asyncio.sleep(0.05)
            async with backlog.database.read_sessions() as session:
                left = await session.scalar(
                    text("SELECT count(*) FROM webhooks.deliveries WHERE status <> 'delivered'")
                )
            if left == 0:
                break
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await dispatcher.stop()
        return messages / elapsed, cpu / messages
    finally:
        await backlog.stop()
        await _drop_database(server_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--request-path", action="store_true", help="reads answered while a burst drains")
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("set TEST_DATABASE_URL or pass --database-url")
    if args.request_path:
        idle, busy, delivered = asyncio.run(request_path(args.database_url, args.messages))
        print(
            f"GET /api/v1/languages, 1 worker: {idle:.0f}/s idle, {busy:.0f}/s while {args.messages} "
            f"webhook messages drain ({busy / idle:.0%}; {delivered} delivered meanwhile)"
        )
        return
    rate, cpu = asyncio.run(measure(args.database_url, args.messages))
    print(
        f"webhook deliveries: {rate:.0f} messages/s ({args.messages} messages, 1 dispatcher); "
        f"{cpu * 1000:.2f} ms of dispatcher CPU per message (≈ {1 / cpu:.0f} messages/s per free core)"
    )


if __name__ == "__main__":
    main()
