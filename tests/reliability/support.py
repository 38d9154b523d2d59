"""Real processes for the reliability tests: `shop serve` on a free loopback port, users signed up
through the API with the token read from the real SMTP server, and clean stops."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from tests.support.net import free_port
from tests.support.smtp import SmtpSink

PASSWORD = "correct horse battery staple"
LINK = re.compile(r"/(verify-email|reset-password)\?token=([A-Za-z0-9_\-]+)")
ROOT = Path(__file__).resolve().parents[2]


def require(tool: str, why: str) -> str:
    """The path of a program the test needs; skip (outside CI only) when this machine lacks it."""
    import pytest

    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"{tool} is not installed: .ci/run must install it ({why})")
        pytest.skip(f"{tool} is not installed ({why}); CI installs it")
    return path


def shop_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a test `shop serve`: nothing inherited that could point it elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "SMTP_", "REDIS_URL", "JWT_", "RATE_LIMIT", "LOCKOUT"))
    }
    env.update(
        DATA_DIR=str(data_dir),
        ENVIRONMENT="development",
        ARGON2_MEMORY_COST="1024",
        ARGON2_TIME_COST="1",
        JWT_SECRET_KEY="reliability-test-" + "k" * 40,
        MAIL_POLL_SECONDS="0.1",
        SMTP_TLS="none",  # the test SMTP servers speak plain SMTP
        MAIL_RETRY_BASE_SECONDS="0.2",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class ShopServer:
    """One `shop serve` process; its output goes to a file so a long run never blocks on a pipe."""

    def __init__(self, data_dir: Path, port: int | None = None, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = args
        self.env = shop_env(data_dir, **env)
        self.process: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir.parent / f"shop-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ShopServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shop", "serve", "--port", str(self.port), *self.args],
            env=self.env,
            cwd=self.data_dir.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 90.0, *, path: str = "/health/live") -> ShopServer:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"shop serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}{path}", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"shop serve did not become ready:\n{self.output()}")

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM, then wait; the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"shop serve did not stop within {timeout}s:\n{self.output()}") from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def mail_to(smtp: SmtpSink, recipient: str, count: int = 1, timeout: float = 30.0) -> list[EmailMessage]:
    """The mails `recipient` received, waiting (from a synchronous test) until `count` are there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in smtp.messages if str(m["To"]).lower() == recipient.lower()]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no mail to {recipient} within {timeout}s")


def mailed_token(message: EmailMessage, page: str = "verify-email") -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = LINK.search(str(body.get_content()))  # type: ignore[attr-defined]
    assert match is not None and match.group(1) == page, body
    return match.group(2)


def sign_up(base: str, smtp: SmtpSink, email: str, password: str = PASSWORD) -> None:
    """Register `email` and verify it with the token from the real verification mail."""
    body = {"email": email, "password": password, "confirm_password": password}
    response = httpx.post(f"{base}/api/v1/auth/register", json=body, timeout=30)
    assert response.status_code == 201, response.text
    token = mailed_token(mail_to(smtp, email)[-1])
    verified = httpx.post(f"{base}/api/v1/auth/verify-email", json={"token": token}, timeout=30)
    assert verified.status_code == 200, verified.text


def sign_in(base: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def create_admin(env: Mapping[str, str], cwd: Path, email: str, password: str = PASSWORD) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shop", "create-admin", email],
        env=dict(env),
        cwd=cwd,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def bearer(pair: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement, from a synchronous test (its own short-lived engine)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> list[tuple[Any, ...]]:
        engine = create_async_engine(url, poolclass=None)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(sql), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    # A thread of its own: the calling test may be async, with its event loop running here.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def wait_until(condition: Any, what: str, timeout: float = 60.0) -> None:
    """Poll `condition()` until it is true; fail naming `what` (a liveness bound, not a timing test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def register(base: str, email: str, password: str = PASSWORD) -> httpx.Response:
    body = {"email": email, "password": password, "confirm_password": password}
    return httpx.post(f"{base}/api/v1/auth/register", json=body, timeout=30)


class RedisServer:
    """A `redis-server` of the test's own on a free port, to stop and start at will."""

    def __init__(self, folder: Path) -> None:
        self.binary = require("redis-server", "the Redis fault and multi-instance tests")
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import socket

        def up() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(up, "redis-server accepts connections", 30)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None
