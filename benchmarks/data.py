"""The benchmark's database: a database of its own on a real PostgreSQL, migrated by `shop migrate`,
and users, profiles, addresses and sessions loaded in bulk with `generate_series` (one INSERT … SELECT
per table, in chunks), never through the API (one argon2 hash is computed once and shared)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks.harness import ROOT, WORK

PASSWORD = "benchmark pass phrase 42"
DOMAIN = "example.com"
LOCAL_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def email(number: int) -> str:
    return f"u{number}@{DOMAIN}"


def _answers(url: str) -> bool:
    async def probe() -> bool:
        engine = create_async_engine(url, connect_args={"timeout": 3})
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
        finally:
            await engine.dispose()

    return asyncio.run(probe())


@dataclass
class Server:
    """A PostgreSQL server: the one named by BENCH_DATABASE_URL / TEST_DATABASE_URL, the local one at
    127.0.0.1:5432, or the embedded one."""

    url: str
    embedded: object | None = None

    @classmethod
    def find(cls) -> Server:
        for name in ("BENCH_DATABASE_URL", "TEST_DATABASE_URL"):
            if value := os.environ.get(name):
                return cls(value.replace("postgresql://", "postgresql+asyncpg://", 1))
        if _answers(LOCAL_SERVER):
            return cls(LOCAL_SERVER)
        from shop.core.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(WORK / "embedded")
        return cls(embedded.start(), embedded)

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()  # type: ignore[attr-defined]


@asynccontextmanager
async def bench_database(server: Server) -> AsyncIterator[str]:
    """A new database for this run, migrated to head; dropped afterwards."""
    name = f"shop_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(server.url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server.url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def migrate(url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shop", "migrate"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"shop migrate failed:\n{result.stdout}\n{result.stderr}")


def password_hash() -> str:
    """A hash with shop's own argon2 parameters, so a login never re-hashes."""
    from passlib.context import CryptContext

    from shop.core.config import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    context = CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=settings.argon2_memory_cost,
        argon2__rounds=settings.argon2_time_cost,
        argon2__parallelism=settings.argon2_parallelism,
    )
    return str(context.hash(PASSWORD))


# Users u{first}…u{last}: verified, each with a profile, `addresses` addresses and one old session
# (so the sessions table is not empty at scale). Data-modifying CTEs: one statement per chunk.
_LOAD = """
WITH numbers AS (SELECT g FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g),
new_users AS (
    INSERT INTO auth.users (email, password_hash, email_verified)
    SELECT 'u' || g || '@' || CAST(:domain AS text), CAST(:hash AS text), CAST(:verified AS boolean)
    FROM numbers
    RETURNING id
),
new_profiles AS (
    INSERT INTO users.profiles (user_id, first_name, last_name)
    SELECT id, 'Ada', 'Lovelace' FROM new_users
),
new_sessions AS (
    INSERT INTO auth.sessions (user_id, expires_at, user_agent, ip, amr)
    SELECT id, now() + interval '30 days', 'bench', '127.0.0.1', ARRAY['pwd'] FROM new_users
)
INSERT INTO users.addresses
    (user_id, type, is_primary, first_name, last_name, address_line_1, city, postal_code, country_code)
SELECT id, CASE WHEN k = 1 THEN 'both' ELSE 'shipping' END, k = 1, 'Ada', 'Lovelace',
       k || ' Bench Street', 'London', 'N1 9GU', 'GB'
FROM new_users CROSS JOIN generate_series(1, CAST(:addresses AS int)) AS k
"""


def _chunks(first: int, last: int, size: int) -> Iterator[tuple[int, int]]:
    start = first
    while start <= last:
        yield start, min(last, start + size - 1)
        start += size


async def load_users(
    url: str, first: int, last: int, addresses: int, hashed: str, *, verified: bool = True
) -> float:
    """Load users u{first}..u{last}; returns the seconds it took."""
    started = time.perf_counter()
    engine: AsyncEngine = create_async_engine(url)
    try:
        for low, high in _chunks(first, last, 100_000):
            async with engine.begin() as connection:
                await connection.execute(
                    text(_LOAD),
                    {
                        "first": low,
                        "last": high,
                        "domain": DOMAIN,
                        "hash": hashed,
                        "addresses": addresses,
                        "verified": verified,
                    },
                )
            if last - first > 100_000:
                print(f"  loaded users up to u{high}", flush=True)
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


# Rates for a cross rate: EUR -> GBP goes through USD (USD->EUR direct, USD->GBP direct).
_RATES = """
INSERT INTO localization.exchange_rates (from_code, to_code, rate, effective_date, source)
VALUES ('USD', 'EUR', 0.92, now() - interval '1 day', 'bench'),
       ('USD', 'GBP', 0.79, now() - interval '1 day', 'bench'),
       ('USD', 'JPY', 151.3, now() - interval '1 day', 'bench')
"""


async def load_rates(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(_RATES))
    finally:
        await engine.dispose()


async def count_rows(url: str) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            counts = {}
            for table in ("auth.users", "users.addresses", "auth.sessions"):
                counts[table] = int(
                    (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608 - fixed names
                )
            return counts
    finally:
        await engine.dispose()


async def add_oidc_codes(url: str, prefix: str, user_ids: list[str], count: int, challenge: str) -> None:
    """One-time codes of provider sign-ins, as shop's callback leaves them (hashed, bound to a PKCE
    challenge), `{prefix}{n}` for n in 1..count, spread over `user_ids`: what POST /oidc/exchange
    spends. Made here rather than through a provider, whose round trips are not what is measured."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO auth.oidc_codes (code_hash, user_id, provider, code_challenge, expires_at) "
                    "SELECT sha256(convert_to(:prefix || g::text, 'UTF8')), "
                    "(CAST(:ids AS uuid[]))[1 + g % cardinality(CAST(:ids AS uuid[]))], 'bench', :challenge, "
                    "now() + interval '10 minutes' FROM generate_series(1, :count) AS g"
                ),
                {"prefix": prefix, "ids": user_ids, "challenge": challenge, "count": count},
            )
    finally:
        await engine.dispose()
