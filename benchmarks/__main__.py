"""Run the benchmarks and print figures as ratios to ceilings measured in the same run.

Ceilings: a bare FastAPI endpoint (HTTP), one trivial SELECT (database), one argon2 verify (CPU).
The machine is shared and noisy: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from passlib.context import CryptContext
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
DURATION = float(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
PASSWORD = "benchmark pass phrase 42"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def load(
    call: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]], base: str
) -> tuple[float, float]:
    """Requests per second and median latency (ms) of `call` under CONCURRENCY for DURATION."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + DURATION
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(index: int) -> None:
            nonlocal errors
            n = 0
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await call(client, index * 1_000_000 + n)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 400:
                    errors += 1
                n += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"benchmark saw {errors} error responses")
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stdout.read().decode() if process.stdout else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} never answered")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


async def database_ceiling(url: str) -> float:
    engine = create_async_engine(url, pool_size=CONCURRENCY)
    count = 0
    deadline = time.perf_counter() + DURATION

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    rate = count / (time.perf_counter() - started)
    await engine.dispose()
    return rate


def argon2_figures() -> tuple[float, float]:
    context = CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=19456,
        argon2__rounds=2,
        argon2__parallelism=1,
    )
    hashes, verifies = [], []
    stored = context.hash(PASSWORD)
    for _ in range(10):
        started = time.perf_counter()
        context.hash(PASSWORD)
        hashes.append(time.perf_counter() - started)
        started = time.perf_counter()
        context.verify(PASSWORD, stored)
        verifies.append(time.perf_counter() - started)
    return statistics.median(hashes) * 1000, statistics.median(verifies) * 1000


async def prepare_users(base: str, url: str, count: int) -> list[str]:
    emails = [f"bench-{secrets.token_hex(4)}-{i}@example.com" for i in range(count)]
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for email in emails:
            response = await client.post(
                "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD, "confirm_password": PASSWORD},
            )
            response.raise_for_status()
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE auth.users SET email_verified = true"))
    await engine.dispose()
    return emails


async def main() -> None:
    from shop.core.embedded import EmbeddedPostgres
    from shop.core.migrate import run_alembic

    embedded = None
    server = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not server:
        embedded = EmbeddedPostgres(ROOT / ".data" / "bench")
        server = embedded.start()
    server = server.replace("postgresql://", "postgresql+asyncpg://", 1)
    name = f"shop_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await run_alembic(url, "upgrade", "head")
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "RATE_LIMIT_ENABLED": "false",
            "ENVIRONMENT": "development",
            "DATA_DIR": str(ROOT / ".data" / "bench-app"),
            "WEB_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
        }
        shop_port, bare_port = free_port(), free_port()
        shop = subprocess.Popen(
            [sys.executable, "-m", "shop", "serve", "--port", str(shop_port), "--workers", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.bare_app:app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        processes += [shop, bare]
        shop_base, bare_base = f"http://127.0.0.1:{shop_port}", f"http://127.0.0.1:{bare_port}"
        wait_http(f"{shop_base}/health/ready", shop)
        wait_http(f"{bare_base}/ping", bare)

        hash_ms, verify_ms = argon2_figures()
        bare_rps, bare_ms = await load(lambda c, _: c.get("/ping"), bare_base)
        select_rps = await database_ceiling(url)
        live_rps, _ = await load(lambda c, _: c.get("/health/live"), shop_base)
        currencies_rps, _ = await load(lambda c, _: c.get("/api/v1/currencies"), shop_base)

        emails = await prepare_users(shop_base, url, CONCURRENCY)
        async with httpx.AsyncClient(base_url=shop_base) as client:
            tokens = []
            for email in emails:
                response = await client.post(
                    "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                )
                tokens.append({"Authorization": f"Bearer {response.json()['access_token']}"})
        me_rps, me_ms = await load(
            lambda c, i: c.get("/api/v1/auth/me", headers=tokens[(i // 1_000_000) % len(tokens)]), shop_base
        )
        profile_rps, profile_ms = await load(
            lambda c, i: c.get("/api/v1/profile", headers=tokens[(i // 1_000_000) % len(tokens)]), shop_base
        )
        login_rps, login_ms = await load(
            lambda c, i: c.post(
                "/api/v1/auth/login",
                json={"email": emails[(i // 1_000_000) % len(emails)], "password": PASSWORD},
            ),
            shop_base,
        )
        cpu = os.cpu_count() or 1
        print(
            f"shop benchmarks — {DURATION:.0f} s per figure, {CONCURRENCY} concurrent clients, {cpu} cores\n"
        )
        print("ceilings (measured now)")
        print(f"  bare FastAPI GET              {bare_rps:9.0f} req/s   median {bare_ms:6.2f} ms")
        print(f"  SELECT 1 (pool, {CONCURRENCY} tasks)     {select_rps:9.0f} /s")
        print(f"  argon2id verify (m=19456,t=2) {verify_ms:9.1f} ms  -> {1000 / verify_ms:6.1f} /s per core")
        print("\nshop, 1 worker")
        print(f"  argon2id hash (defaults)      {hash_ms:9.1f} ms")
        print(
            f"  GET /health/live              {live_rps:9.0f} req/s   {live_rps / bare_rps:5.2f} x bare FastAPI"
        )
        print(
            f"  GET /api/v1/currencies        {currencies_rps:9.0f} req/s   {currencies_rps / bare_rps:5.2f} x bare FastAPI"
        )
        print(
            f"  GET /api/v1/auth/me (bearer)  {me_rps:9.0f} req/s   {me_rps / bare_rps:5.2f} x bare FastAPI, median {me_ms:.2f} ms"
        )
        print(
            f"  GET /api/v1/profile (bearer)  {profile_rps:9.0f} req/s   {profile_rps / bare_rps:5.2f} x bare FastAPI, median {profile_ms:.2f} ms"
        )
        print(
            f"  POST /api/v1/auth/login       {login_rps:9.1f} req/s   {login_rps * verify_ms / 1000:5.2f} x one-core argon2 verify ceiling,"
            f" median {login_ms:.0f} ms"
        )
    finally:
        for process in processes:
            stop(process)
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    asyncio.run(main())
