"""The browser harness: a real `shop serve` on a free port, and Debian's Chromium driven by Playwright.

No browser is downloaded: Playwright drives /usr/bin/chromium (`apt-get install chromium`). Every
request a page makes to anything but the loopback addresses is recorded and refused, so a test can
assert that a page needs nothing from the internet.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import expect

from tests.support.net import free_port
from tests.support.smtp import SmtpSink

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("SHOP_TEST_CHROMIUM", "/usr/bin/chromium"))
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}
PASSWORD = "correct horse battery staple"
# How long a page may take to show what a test waits for: generous, for a loaded CI machine. Not a
# timed assertion: a test waits for a state, never for a speed.
WAIT_MS = 30_000


def require_browser() -> None:
    """Skip outside CI when Chromium or Playwright is missing; under CI=true, fail instead."""
    reason = None
    try:
        import playwright  # noqa: F401
    except ImportError:
        reason = "the Python package playwright is not installed (make install)"
    if reason is None and not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(f"browser tests need a browser: {reason}")


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOOPBACK


@dataclass
class OutsideRequests:
    """URLs of every request a browser context tried to send beyond the loopback addresses."""

    urls: list[str] = field(default_factory=list)

    def note(self, url: str) -> None:
        if not is_local(url):
            self.urls.append(url)

    @staticmethod
    def is_local(url: str) -> bool:
        return is_local(url)


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


@dataclass
class ShopServer:
    """A `shop serve` process with its SMTP sink; its log (stderr and stdout) goes to a file."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    smtp: SmtpSink

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_lines() if line.strip()]


def server_env(
    data_dir: Path, database_url: str, smtp_port: int, public_url: str, **extra: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "SMTP_", "REDIS_URL", "JWT_", "CORS_", "REFRESH_COOKIE"))
    }
    env.update(
        DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        ENVIRONMENT="development",
        JWT_SECRET_KEY="browser-test-secret-" + "b" * 40,
        PUBLIC_URL=public_url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_STARTTLS="false",
        RATE_LIMIT_ENABLED="false",
        ARGON2_MEMORY_COST="1024",
        ARGON2_TIME_COST="1",
        MAIL_POLL_SECONDS="0.05",
    )
    env.update(extra)
    return env


def start_server(
    data_dir: Path, database_url: str, smtp: SmtpSink, *, host: str = "127.0.0.1", **extra: str
) -> ShopServer:
    port = free_port()
    base_url = f"http://{host}:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "shop", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env(data_dir, database_url, smtp.port, base_url, **extra),
            cwd=data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ShopServer(base_url, process, log_path, smtp)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"shop serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise AssertionError(f"shop serve did not become ready:\n{log_path.read_text()}")


def stop_server(server: ShopServer) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def keep_log(server: ShopServer, name: str) -> None:
    """The server's log next to the screenshots: what the operator would have seen."""
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(server.log_path, ARTIFACTS / f"{name}.log")


MAIL_LINK = r"(https?://\S+/(verify-email|reset-password)\?token=[A-Za-z0-9_\-]+)"


async def mailed_link(server: ShopServer, email: str, page: str, count: int = 1) -> str:
    """The `page` link of the `count`-th mail to `email`, as the recipient's mail program shows it."""
    import re

    messages = await server.smtp.wait_for(email, count=count, timeout=30)
    body = messages[count - 1].get_body(("plain",))
    assert body is not None
    found = [m.group(1) for m in re.finditer(MAIL_LINK, body.get_content()) if m.group(2) == page]
    assert found, body.get_content()
    return found[-1]


async def register_verified(server: ShopServer, email: str, password: str = PASSWORD) -> None:
    """An account whose address is confirmed, through the API and the real mail."""
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        registered = await client.post(
            "/api/v1/auth/register", json={"email": email, "password": password, "confirm_password": password}
        )
        assert registered.status_code == 201, registered.text
        link = await mailed_link(server, email, "verify-email")
        token = link.rsplit("token=", 1)[1]
        verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text


async def guarded_context(chromium: Any, outside: OutsideRequests, **options: Any) -> Any:
    context = await chromium.new_context(**options)
    context.set_default_timeout(WAIT_MS)
    context.on("request", lambda request: outside.note(request.url))

    async def guard(route: Any) -> None:
        if outside.is_local(route.request.url):
            await route.continue_()
        else:
            await route.abort("blockedbyclient")

    await context.route("**/*", guard)
    return context


# -- Swagger UI and the pages, as a reader drives them ------------------------------------------

ME = '.opblock-get:has(.opblock-summary-path[data-path="/api/v1/auth/me"])'


async def sign_in_with_authorize(page: Any, email: str, password: str) -> None:
    """Swagger UI's Authorize dialog, OAuth2 password flow: the form posts to /api/v1/auth/token."""
    await page.locator(".scheme-container button.authorize").click()
    oauth2 = page.locator(".modal-ux .auth-container:has-text('OAuth2PasswordBearer')")
    await oauth2.locator("#oauth_username").fill(email)
    await oauth2.locator("#oauth_password").fill(password)
    await oauth2.locator("button.authorize").click()
    await expect(oauth2.get_by_role("heading", name="Authorized")).to_be_visible()


REGISTER = '.opblock-post:has(.opblock-summary-path[data-path="/api/v1/auth/register"])'


def csp_violations(page: Any) -> list[str]:
    """Console errors about the Content-Security-Policy: an inline script or style without its nonce."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return seen


async def try_it_out(page: Any, operation_selector: str, body: dict[str, Any] | None = None) -> Any:
    operation = page.locator(operation_selector)
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    if body is not None:
        await operation.locator("textarea.body-param__text").fill(json.dumps(body))
    await operation.locator("button.execute").click()
    return operation.locator(".live-responses-table .response").first
