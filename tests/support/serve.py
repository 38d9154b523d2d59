"""A real `shop serve` process on a free loopback port: its environment, start, wait until ready,
stop; shop's CLI in the same environment; users signed up through the API and the real mail."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.auth import PASSWORD, mailed_token
from tests.support.net import EXIT_SECONDS, STARTUP_SECONDS, free_port
from tests.support.smtp import SmtpSink
from tests.support.waiting import answering, wait_until

# Settings a test's process must never inherit from the developer's or CI's environment.
NOT_INHERITED = (
    "DATABASE_URL",
    "SMTP_",
    "REDIS_URL",
    "JWT_",
    "ACCESS_TOKEN",
    "PUBLIC_URL",
    "CORS_",
    "REFRESH_COOKIE",
    "RATE_LIMIT",
    "LOCKOUT",
)


# What a newcomer's first `shop serve` has not (`newcomer=True`): shop's own defaults for the mail
# tries, SMTP's TLS, the log level and the JWT secret (development makes one in DATA_DIR), and no
# XDG_RUNTIME_DIR, as under a service manager or in a container.
NEWCOMER = (
    "MAIL_POLL_SECONDS",
    "MAIL_RETRY_BASE_SECONDS",
    "SMTP_TLS",
    "LOG_LEVEL",
    "JWT_SECRET_KEY",
    "XDG_RUNTIME_DIR",
)


def shop_env(data_dir: Path, *, newcomer: bool = False, **extra: str | None) -> dict[str, str]:
    """The environment of a shop process started by a test: nothing inherited that could point it
    elsewhere, cheap hashing, quick and quiet mail tries (not for a `newcomer`), then `extra`;
    `NAME=None` leaves NAME unset."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED)}
    env.update(
        DATA_DIR=str(data_dir),
        ENVIRONMENT="development",
        ARGON2_MEMORY_COST="1024",
        ARGON2_TIME_COST="1",
        JWT_SECRET_KEY="shop-test-secret-" + "k" * 40,
        MAIL_POLL_SECONDS="0.1",
        MAIL_RETRY_BASE_SECONDS="0.2",
        SMTP_TLS="none",  # the test SMTP servers speak plain SMTP
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if newcomer:
        extra = {**dict.fromkeys(NEWCOMER), **extra}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class ShopServer:
    """One `shop serve` process; its output goes to a file (beside `data_dir`, kept across restarts
    on the same port) so a long run never blocks on a pipe. `smtp`: the sink its mail goes to."""

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        port: int | None = None,
        host: str = "127.0.0.1",
        smtp: SmtpSink | None = None,
        newcomer: bool = False,
        **env: str | None,
    ) -> None:
        self.data_dir = data_dir
        self.args = args
        self.port = port or free_port()
        self.host = host
        self.smtp = smtp
        if smtp is not None:
            env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), **env}
        self.env = shop_env(data_dir, newcomer=newcomer, **env)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"shop-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ShopServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "shop",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                env=self.env,
                cwd=self.data_dir.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self) -> list[str]:
        return self.output().splitlines()

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log records written so far."""
        return [json.loads(line) for line in self.log_lines() if line.strip()]

    def wait_ready(self, timeout: float = STARTUP_SECONDS, *, path: str = "/health/live") -> ShopServer:
        assert self.process is not None, "not started"
        ready = answering(f"{self.url}{path}", self.process, self.output)
        wait_until(ready, lambda: f"shop serve ready at {self.url}{path}:\n{self.output()}", timeout)
        return self

    def start_ready(self, *, path: str = "/health/ready") -> ShopServer:
        """`start`, then `wait_ready`; a server that never gets ready is killed."""
        self.start()
        try:
            return self.wait_ready(path=path)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = EXIT_SECONDS) -> int:
        """SIGTERM, then wait; the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"shop serve did not stop within {timeout}s:\n{self.output()}") from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def command(self, *args: str, stdin: str | None = None, timeout: float = EXIT_SECONDS) -> str:
        """`shop <args>` in this server's environment and folder; its standard output."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "shop", *args],
            env=self.env,
            cwd=self.data_dir.parent,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def create_admin(self, email: str, password: str = PASSWORD) -> None:
        self.command("create-admin", email, stdin=password + "\n")


def start_server(
    data_dir: Path, database_url: str, smtp: SmtpSink | None, *, host: str = "127.0.0.1", **extra: str
) -> ShopServer:
    """`shop serve` as a newcomer runs it, on `database_url` (migrated at start), ready: its log at
    INFO, mail to `smtp` (else to DATA_DIR/mail and the log, as on a first `make run`)."""
    server = ShopServer(
        data_dir,
        host=host,
        smtp=smtp,
        DATABASE_URL=database_url,
        RATE_LIMIT_ENABLED="false",
        MAIL_POLL_SECONDS="0.05",
        LOG_LEVEL=None,
        **extra,
    )
    server.env.setdefault("PUBLIC_URL", server.url)
    return server.start_ready()


def register(url: str, email: str, password: str = PASSWORD) -> httpx.Response:
    body = {"email": email, "password": password, "confirm_password": password}
    return httpx.post(f"{url}/api/v1/auth/register", json=body, timeout=30)


async def register_verified(server: ShopServer, email: str, password: str = PASSWORD) -> None:
    """An account whose address is confirmed, through the API and the real verification mail."""
    assert server.smtp is not None, "this server has no SMTP sink"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        body = {"email": email, "password": password, "confirm_password": password}
        registered = await client.post("/api/v1/auth/register", json=body)
        assert registered.status_code == 201, registered.text
        token = mailed_token((await server.smtp.wait_for(email))[-1])
        verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text


def sign_in(url: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


MAIL_LINK = r"(https?://\S+/(verify-email|reset-password|confirm-email-change)\?token=[A-Za-z0-9_\-]+)"


async def mailed_link(server: ShopServer, email: str, page: str, count: int = 1) -> str:
    """The `page` link of the `count`-th mail to `email`, as the recipient's mail program shows it."""
    assert server.smtp is not None, "this server has no SMTP sink"
    messages = await server.smtp.wait_for(email, count=count)
    body = messages[count - 1].get_body(("plain",))
    assert body is not None
    found = [m.group(1) for m in re.finditer(MAIL_LINK, body.get_content()) if m.group(2) == page]
    assert found, body.get_content()
    return found[-1]
