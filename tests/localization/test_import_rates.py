"""`shop import-rates FILE` through the real command line, on the per-run test database.

The sample files under data/ are in the ECB's exact eurofxref format; their rates are illustrative.
The command commits on its own connection, so each test deletes what it stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop import cli
from shop.core.config import get_settings
from shop.localization.commands import BadFile, parse_ecb
from tests.support.app import AppWith, http_client
from tests.support.localization import utc

DATA = Path(__file__).parent / "data"
DAILY = DATA / "eurofxref-daily.xml"
HIST = DATA / "eurofxref-hist.xml"


@pytest.fixture
async def shop_command(
    database_url: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM localization.exchange_rates WHERE source = 'ECB'"))


async def run_shop(*argv: str) -> None:
    # The command runs its own event loop (asyncio.run), so it gets a thread of its own.
    await asyncio.to_thread(cli.main, list(argv))


async def ecb_rates(engine: AsyncEngine) -> dict[tuple[str, str, object], Decimal]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT from_code, to_code, effective_date, rate FROM localization.exchange_rates "
                "WHERE source = 'ECB'"
            )
        )
        return {(f, t, when): rate for f, t, when, rate in rows}


@pytest.mark.usefixtures("shop_command")
async def test_daily_file_imports_once(engine: AsyncEngine, capsys: pytest.CaptureFixture[str]) -> None:
    await run_shop("import-rates", str(DAILY))
    report = capsys.readouterr().out
    assert "1 day(s), 29 rate(s): 29 stored, 0 already present, 0 skipped" in report

    rates = await ecb_rates(engine)
    assert len(rates) == 29
    assert rates[("EUR", "USD", utc(2026, 11, 20, 15))] == Decimal("1.1566")
    assert rates[("EUR", "JPY", utc(2026, 11, 20, 15))] == Decimal("180.62")
    assert {f for f, _, _ in rates} == {"EUR"}

    await run_shop("import-rates", str(DAILY))
    assert "29 rate(s): 0 stored, 29 already present, 0 skipped" in capsys.readouterr().out
    assert await ecb_rates(engine) == rates


@pytest.mark.usefixtures("shop_command")
async def test_historical_file(engine: AsyncEngine, capsys: pytest.CaptureFixture[str]) -> None:
    await run_shop("import-rates", str(HIST))
    report = capsys.readouterr().out
    # 29 + 30 + 31 rates; HRK (the kuna, 2022) is not in the reference data; BGN is (inactive).
    assert "3 day(s), 90 rate(s): 89 stored, 0 already present, 1 skipped" in report
    assert "not in the reference data: HRK" in report

    rates = await ecb_rates(engine)
    assert len(rates) == 89
    assert rates[("EUR", "BGN", utc(2022, 12, 30, 15))] == Decimal("1.9558")
    assert rates[("EUR", "USD", utc(2025, 12, 31, 15))] == Decimal("1.1750")
    assert ("EUR", "HRK", utc(2022, 12, 30, 15)) not in rates

    # Overlapping files: the daily one adds only its own day.
    await run_shop("import-rates", str(DAILY))
    assert "29 stored" in capsys.readouterr().out
    await run_shop("import-rates", str(HIST))
    assert "90 rate(s): 0 stored, 89 already present, 1 skipped" in capsys.readouterr().out


@pytest.mark.usefixtures("shop_command")
async def test_imported_rates_are_served(
    app_with: AppWith, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_shop("import-rates", str(HIST))
    capsys.readouterr()

    async def rate(client: httpx.AsyncClient, path: str) -> dict[str, str]:
        response = await client.get(path)
        assert response.status_code == 200, response.text
        body: dict[str, str] = response.json()
        return body

    # In force from 15:00 UTC of its day.
    at_15 = await rate(client, "/api/v1/exchange-rates/EUR/USD?at=2025-12-31T15:00:00Z")
    assert (at_15["rate"], at_15["source"], at_15["effective_date"]) == (
        "1.175",
        "ECB",
        "2025-12-31T15:00:00Z",
    )
    before = await rate(client, "/api/v1/exchange-rates/EUR/USD?at=2025-12-31T14:59:59Z")
    assert (before["rate"], before["effective_date"]) == ("1.0666", "2022-12-30T15:00:00Z")
    inverse = await rate(client, "/api/v1/exchange-rates/USD/EUR?at=2026-01-02T15:00:00Z")
    assert (inverse["rate"], inverse["source"]) == ("0.85316952", "derived")  # 1 / 1.1721

    # ECB rates are all EUR→X: crossing through USD needs a GBP-USD leg that is not there...
    no_leg = await client.get("/api/v1/exchange-rates/GBP/JPY?at=2026-01-03T00:00:00Z")
    assert no_leg.status_code == 404
    # ...while with BASE_CURRENCY=EUR every pair of ECB currencies has a cross rate.
    async with app_with(base_currency="EUR") as euro_app, http_client(euro_app) as euro_client:
        cross = await rate(euro_client, "/api/v1/exchange-rates/GBP/JPY?at=2026-01-03T00:00:00Z")
        # (1 / 0.87210) * 183.83 = 210.790047012957...
        assert (cross["rate"], cross["source"]) == ("210.79004701", "derived")
        assert cross["effective_date"] == "2026-01-02T15:00:00Z"
        table = await rate(euro_client, "/api/v1/exchange-rates?base=EUR")
        assert len(table["rates"]) == 29  # every active ECB currency; BGN is inactive
        assert table["as_of"] == "2026-01-02T15:00:00Z"


def _write(tmp_path: Path, content: str | bytes, name: str = "rates.xml") -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
    'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
    "<Cube>{days}</Cube></gesmes:Envelope>"
)

BAD_FILES = {
    "not xml": ("this is not xml", "not well-formed XML"),
    "truncated": (DAILY.read_text()[:500], "not well-formed XML"),
    "dtd": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>',
        "refusing an XML file with a DTD",
    ),
    "other xml": ("<rss><channel/></rss>", "not an ECB reference-rate file"),
    "no rates": (ENVELOPE.format(days=""), "no exchange rates"),
    "bad day": (
        ENVELOPE.format(days="<Cube time='2026-02-30'><Cube currency='USD' rate='1'/></Cube>"),
        "day",
    ),
    "bad rate": (
        ENVELOPE.format(days="<Cube time='2026-01-02'><Cube currency='USD' rate='1e3'/></Cube>"),
        "rate",
    ),
    "zero rate": (
        ENVELOPE.format(days="<Cube time='2026-01-02'><Cube currency='USD' rate='0'/></Cube>"),
        "> 0",
    ),
    "bad code": (
        ENVELOPE.format(days="<Cube time='2026-01-02'><Cube currency='usd' rate='1.1'/></Cube>"),
        "currency",
    ),
    "not utf-8": (b"\xff\xfe<\x00x\x00", "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.usefixtures("shop_command")
async def test_a_bad_file_is_a_one_line_error(engine: AsyncEngine, tmp_path: Path, case: str) -> None:
    content, reason = BAD_FILES[case]
    path = _write(tmp_path, content)
    with pytest.raises(SystemExit) as exit_info:
        await run_shop("import-rates", path)
    message = str(exit_info.value.code)
    assert message.startswith(f"shop import-rates: {path}: ")
    assert reason in message
    assert "\n" not in message
    assert await ecb_rates(engine) == {}


@pytest.mark.usefixtures("shop_command")
async def test_a_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        await run_shop("import-rates", str(tmp_path / "missing.xml"))
    assert "cannot read the file" in str(exit_info.value.code)


@pytest.mark.usefixtures("shop_command")
async def test_a_file_is_all_or_nothing(engine: AsyncEngine, tmp_path: Path) -> None:
    days = "<Cube time='2026-01-02'><Cube currency='USD' rate='1.1'/></Cube><Cube time='2026-01-01'><Cube currency='JPY' rate='-1'/></Cube>"
    with pytest.raises(SystemExit):
        await run_shop("import-rates", _write(tmp_path, ENVELOPE.format(days=days)))
    assert await ecb_rates(engine) == {}


def test_parse_accepts_the_single_quoted_real_format() -> None:
    rates = parse_ecb(HIST.read_text())
    assert len(rates) == 90
    assert rates[0].day.isoformat() == "2026-01-02"
    assert (rates[0].currency, rates[0].rate) == ("USD", Decimal("1.1721"))


def test_parse_refuses_external_entities() -> None:
    xxe = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(BadFile):
        parse_ecb(xxe)
    with pytest.raises(BadFile):
        parse_ecb(xxe.replace("DOCTYPE", "doctype"))
