"""End to end through a real `shop serve` process: embedded PostgreSQL, start, reuse, SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shop.core.config import HASHING_SLOTS_ENV
from tests.support.auth import PASSWORD
from tests.support.net import EXIT_SECONDS, free_port
from tests.support.problems import assert_problem
from tests.support.serve import ShopServer, shop_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def start(data_dir: Path, port: int, *args: str, **extra: str) -> ShopServer:
    """`shop serve` as a newcomer starts it, ready."""
    return ShopServer(data_dir, *args, port=port, newcomer=True, **extra).start_ready()


def stop(server: ShopServer) -> tuple[int, str]:
    return server.stop(), server.output()


def postmaster_running(data_dir: Path) -> bool:
    return (data_dir / "postgres" / "data" / "postmaster.pid").exists()


def test_serve_with_embedded_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(data_dir, port)
    try:
        assert postmaster_running(data_dir)
        docs = httpx.get(f"{base}/docs")
        assert docs.status_code == 200 and "swagger-ui" in docs.text
        email = "e2e@example.com"
        registered = httpx.post(
            f"{base}/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "confirm_password": PASSWORD},
        )
        assert registered.status_code == 201, registered.text
        wait_until(lambda: list((data_dir / "mail").glob("*.eml")), "the verification mail is saved")
        assert (data_dir / "jwt-secret.key").exists()
    finally:
        code, output = stop(server)
    assert code == 0, output
    assert not postmaster_running(data_dir), "the embedded PostgreSQL outlived shop serve"
    assert "Traceback" not in output
    # Nothing but shop's log lines: no library warning on stderr (platformdirs, without XDG_RUNTIME_DIR).
    assert "Warning" not in output, output

    # A second start reuses the data: the account is still there.
    server = start(data_dir, port)
    try:
        again = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "e2e@example.com", "password": PASSWORD}
        )
        assert_problem(again, 403, "email_not_verified")
    finally:
        code, output = stop(server)
    assert code == 0, output
    assert not postmaster_running(data_dir)


def test_serve_with_workers_against_external_database(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    server = start(
        tmp_path / "data", port, "--workers", "2", DATABASE_URL=database_url, JWT_SECRET_KEY="k" * 40
    )
    try:
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{port}/api/v1/currencies").status_code == 200
        # The workers take turns at the cores for argon2: a directory of slots shared by the two.
        assert server.process is not None
        shared = {_slots_dir(worker) for worker in _children(server.process.pid)}
        shared.discard(None)
        assert len(shared) == 1, shared
        slots = Path(str(shared.pop()))
        for number in range(2):  # registration allows 3 per 5 minutes from one address
            registered = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/register",
                json={
                    "email": f"slots{number}-{port}@example.com",
                    "password": PASSWORD,
                    "confirm_password": PASSWORD,
                },
            )
            assert registered.status_code == 201, registered.text
        assert {path.name for path in slots.iterdir()} <= {f"slot-{n}" for n in range(os.cpu_count() or 1)}
        assert any(slots.iterdir())
    finally:
        code, output = stop(server)
    assert code == 0, output
    assert not slots.exists()  # removed with the instance


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _slots_dir(pid: int) -> str | None:
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        name, _, value = entry.partition(b"=")
        if name == HASHING_SLOTS_ENV.encode():
            return value.decode()
    return None


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"ENVIRONMENT": "production"}, "JWT_SECRET_KEY"),
        ({"ENVIRONMENT": "production", "JWT_SECRET_KEY": "short"}, "JWT_SECRET_KEY"),
        ({"SMTP_PORT": "not-a-port"}, "SMTP_PORT"),
        ({"RATE_LIMIT_LOGIN": "lots"}, "RATE_LIMIT_LOGIN"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS"),
        (
            {
                "ENVIRONMENT": "production",
                "JWT_SECRET_KEY": "change-me-to-a-long-random-secret-of-48-chars!!",
            },
            "JWT_SECRET_KEY",
        ),
        (
            {
                "ENVIRONMENT": "production",
                "JWT_SECRET_KEY": "k" * 40,
                "SMTP_USERNAME": "shop",
                "SMTP_STARTTLS": "false",
            },
            "SMTP_TLS",
        ),
    ],
)
def test_bad_configuration_stops_serve_with_one_line(
    tmp_path: Path, extra: dict[str, str], variable: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shop", "serve", "--port", str(free_port())],
        env=shop_env(tmp_path / "data", newcomer=True, **extra),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=EXIT_SECONDS,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
