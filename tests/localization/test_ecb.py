"""`shop import-rates --ecb` and the daily import, against a local HTTP server (loopback) serving a
real ECB daily file: imported whole, again with no change, a server that is down or answers badly
(one clear line, nothing half-imported); two instances with the daily import on one database import
once; an unreachable ECB never stops the loop."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop import cli
from shop.core.config import get_settings
from shop.core.db import Database
from shop.localization.ecb import latest_publication, next_publication
from shop.localization.metrics import NEWEST_RATE
from shop.localization.upkeep import Outcome, RatesUpkeep
from tests.support.app import make_settings
from tests.support.net import DELIVERY_SECONDS, free_port

DAILY = (Path(__file__).parent / "data" / "eurofxref-daily.xml").read_bytes()
DAILY_RATES = DAILY.count(b"currency=")
# Monday 23 November 2026, before 16:00 in Frankfurt: the latest publication is Friday the 20th's,
# the day of the sample file.
MONDAY_MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        bodies = {
            "/daily.xml": (200, DAILY),
            "/broken.xml": (200, DAILY[: len(DAILY) // 2]),
            "/gone.xml": (404, b""),
        }
        status, body = bodies.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ecb() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    server.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def clean(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM localization.exchange_rates WHERE source = 'ECB'"))
        await connection.execute(text("DELETE FROM localization.rate_imports"))


async def counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as connection:
        rates = await connection.scalar(
            text("SELECT count(*) FROM localization.exchange_rates WHERE source = 'ECB'")
        )
        imports = await connection.scalar(text("SELECT count(*) FROM localization.rate_imports"))
    return int(rates or 0), int(imports or 0)


async def import_ecb(monkeypatch: pytest.MonkeyPatch, database_url: str, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("ECB_RATES_URL", url)
    get_settings.cache_clear()
    try:
        await asyncio.to_thread(cli.main, ["import-rates", "--ecb"])
    finally:
        get_settings.cache_clear()


@pytest.mark.usefixtures("clean")
async def test_import_rates_ecb_imports_once_then_changes_nothing(
    ecb: str,
    database_url: str,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await import_ecb(monkeypatch, database_url, f"{ecb}/daily.xml")
    first = capsys.readouterr().out
    stored, _ = await counts(engine)
    assert stored > 25
    assert f"{stored} stored" in first
    await import_ecb(monkeypatch, database_url, f"{ecb}/daily.xml")
    assert "0 stored" in capsys.readouterr().out
    assert (await counts(engine))[0] == stored


@pytest.mark.usefixtures("clean")
@pytest.mark.parametrize(
    "case",
    [("/broken.xml", "not well-formed XML"), ("/gone.xml", "HTTP 404"), (None, "cannot connect")],
)
async def test_import_rates_ecb_failure_is_one_line_and_stores_nothing(
    ecb: str,
    database_url: str,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str | None, str],
) -> None:
    path, cause = case
    url = f"{ecb}{path}" if path else f"http://127.0.0.1:{free_port()}/daily.xml"  # nothing listens there
    with pytest.raises(SystemExit) as exited:
        await import_ecb(monkeypatch, database_url, url)
    message = str(exited.value.code)
    assert message.startswith(f"shop import-rates --ecb: {url}: ")
    assert cause in message
    assert "\n" not in message
    assert await counts(engine) == (0, 0)


def test_publication_days_follow_frankfurt_working_days() -> None:
    assert str(latest_publication(MONDAY_MORNING)) == "2026-11-20"
    assert str(latest_publication(datetime(2026, 11, 23, 15, 1, tzinfo=UTC))) == "2026-11-23"  # 16:01 CET
    assert str(latest_publication(datetime(2026, 11, 22, 20, 0, tzinfo=UTC))) == "2026-11-20"  # Sunday
    assert next_publication(MONDAY_MORNING).isoformat() == "2026-11-23T16:00:00+01:00"
    assert (
        next_publication(datetime(2026, 11, 20, 16, 0, tzinfo=UTC)).isoformat() == "2026-11-23T16:00:00+01:00"
    )


@pytest.mark.usefixtures("clean")
async def test_two_instances_import_once(
    ecb: str, database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, rates_auto_import=True, ecb_rates_url=f"{ecb}/daily.xml")
    databases = [Database.from_url(database_url, pool_size=2) for _ in range(2)]
    loops = [RatesUpkeep(settings, database, clock=lambda: MONDAY_MORNING) for database in databases]
    try:
        # Both passes at once: one takes the lock and imports, the other finds it taken or fresh.
        outcomes = await asyncio.gather(*(loop.import_if_due() for loop in loops))
        assert sorted(outcome.value for outcome in outcomes) in (["busy", "imported"], ["fresh", "imported"])
        stored, imports = await counts(engine)
        assert stored > 25
        assert imports == 1
        # Then the loops as the app runs them: nothing more to import, and the age is on /metrics.
        for loop in loops:
            loop.start()
        await asyncio.sleep(0.5)
        assert await counts(engine) == (stored, 1)
        assert NEWEST_RATE.effective_at == datetime(2026, 11, 20, 15, tzinfo=UTC).timestamp()
    finally:
        for loop in loops:
            await loop.stop()
        for database in databases:
            await database.dispose()


@pytest.mark.usefixtures("clean")
async def test_an_unreachable_ecb_is_retried_and_never_stops_the_loop(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/daily.xml"
    settings = make_settings(database_url, tmp_path, rates_auto_import=True, ecb_rates_url=dead)
    database = Database.from_url(database_url, pool_size=2)
    loop = RatesUpkeep(settings, database, clock=lambda: MONDAY_MORNING)
    loop.fetch_backoff_seconds = 0.01
    try:
        assert await asyncio.wait_for(loop.import_if_due(), DELIVERY_SECONDS) is Outcome.FAILED
        loop.start()
        await asyncio.sleep(0.2)
        assert loop._task is not None and not loop._task.done()
        assert await counts(engine) == (0, 0)
    finally:
        await loop.stop()
        await database.dispose()


async def test_metrics_show_the_newest_rates_age(client: httpx.AsyncClient) -> None:
    NEWEST_RATE.effective_at = MONDAY_MORNING.timestamp()
    try:
        text_ = (await client.get("/metrics")).text
    finally:
        NEWEST_RATE.effective_at = None
    (line,) = [row for row in text_.splitlines() if row.startswith("shop_exchange_rate_newest_age_seconds ")]
    assert float(line.split()[1]) > 0
