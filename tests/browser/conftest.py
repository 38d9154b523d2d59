"""Fixtures of the browser tests: Chromium (session), a `shop serve` on its own database (session), and
a browser context per test that refuses and records every request beyond the loopback addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.support.browser import (
    CHROMIUM,
    WAIT_MS,
    OutsideRequests,
    guarded_context,
    keep_log,
    require_browser,
)
from tests.support.databases import temporary_database
from tests.support.serve import ShopServer, start_server
from tests.support.smtp import SmtpSink, running_sink


@pytest.fixture(scope="session")
async def browser_database_url(server_url: str, worker_id: str) -> AsyncIterator[str]:
    """An empty database of its own: `shop serve` migrates it at start, as on a first `make run`."""
    async with temporary_database(server_url, f"shop_browser_{worker_id}") as url:
        yield url


@pytest.fixture(scope="session")
def browser_smtp() -> Iterator[SmtpSink]:
    with running_sink() as sink:
        yield sink


@pytest.fixture(scope="session")
def shop_server(
    browser_database_url: str, browser_smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ShopServer]:
    """`shop serve` as a newcomer runs it (default settings but for the database and SMTP sink)."""
    require_browser()
    server = start_server(tmp_path_factory.mktemp("serve") / "data", browser_database_url, browser_smtp)
    try:
        yield server
    finally:
        server.stop()
        keep_log(server, "shop-serve")


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    require_browser()
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=WAIT_MS)
    playwright = await async_playwright().start()
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    try:
        yield browser
    finally:
        await browser.close()
        await playwright.stop()


@pytest.fixture
def outside_requests() -> OutsideRequests:
    return OutsideRequests()


@pytest.fixture
async def page(chromium: Any, outside_requests: OutsideRequests) -> AsyncIterator[Any]:
    """A page in a fresh English-speaking context that cannot reach beyond the loopback addresses."""
    context = await guarded_context(chromium, outside_requests, locale="en-US")
    try:
        yield await context.new_page()
    finally:
        await context.close()


def _static_site(folder: str, host: str) -> Iterator[str]:
    """A static server for tests/browser/<folder> on a free loopback port, named by `host`."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(Path(__file__).parent / folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def spa_origin() -> Iterator[str]:
    """tests/browser/spa on its own loopback port: another origin than shop's, on the same site
    (localhost), as an SPA on app.example.com beside an API on api.example.com."""
    yield from _static_site("spa", "localhost")


@pytest.fixture(scope="session")
def cross_site_origin() -> Iterator[str]:
    """tests/browser/crosssite on 127.0.0.1: another site than shop's (localhost), as an attacker's."""
    yield from _static_site("crosssite", "127.0.0.1")


@pytest.fixture(scope="session")
def cookie_server(
    browser_database_url: str,
    browser_smtp: SmtpSink,
    spa_origin: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ShopServer]:
    """`shop serve` in SPA cookie mode, with the SPA's origin in CORS_ORIGINS."""
    require_browser()
    server = start_server(
        tmp_path_factory.mktemp("serve-spa") / "data",
        browser_database_url,
        browser_smtp,
        host="localhost",
        REFRESH_COOKIE="true",
        CORS_ORIGINS=spa_origin,
    )
    try:
        yield server
    finally:
        server.stop()
        keep_log(server, "shop-serve-cookie-mode")
