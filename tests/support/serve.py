"""A real `shop serve` process on a free port, on a database of the test's choosing, for the tests
that need the process (browser tests, logs): start, wait until ready, stop; mail read from its SMTP
sink as the recipient's mail program would show it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.auth import PASSWORD
from tests.support.net import free_port
from tests.support.smtp import SmtpSink


@dataclass
class ShopServer:
    """A `shop serve` process (with its SMTP sink, if any); its log (stderr and stdout) goes to a file."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    smtp: SmtpSink | None

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_lines() if line.strip()]


def server_env(
    data_dir: Path, database_url: str, smtp_port: int | None, public_url: str, **extra: str
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
        RATE_LIMIT_ENABLED="false",
        ARGON2_MEMORY_COST="1024",
        ARGON2_TIME_COST="1",
        MAIL_POLL_SECONDS="0.05",
    )
    if smtp_port is not None:  # else mail goes to DATA_DIR/mail and the log, as on a first `make run`
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_STARTTLS="false")
    env.update(extra)
    return env


def start_server(
    data_dir: Path, database_url: str, smtp: SmtpSink | None, *, host: str = "127.0.0.1", **extra: str
) -> ShopServer:
    port = free_port()
    base_url = f"http://{host}:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "shop", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env(data_dir, database_url, smtp.port if smtp else None, base_url, **extra),
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


MAIL_LINK = r"(https?://\S+/(verify-email|reset-password|confirm-email-change)\?token=[A-Za-z0-9_\-]+)"


async def mailed_link(server: ShopServer, email: str, page: str, count: int = 1) -> str:
    """The `page` link of the `count`-th mail to `email`, as the recipient's mail program shows it."""
    assert server.smtp is not None, "this server has no SMTP sink"
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
