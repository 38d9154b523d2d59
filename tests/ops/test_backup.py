"""docs/BACKUP.md, followed as written, for the embedded and an external PostgreSQL: back up, lose the
database, restore, and sign in again with the same password."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.databases import create_database, drop_database
from tests.support.serve import ShopServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "keeper@example.com"
PASSWORD = "a password kept through a restore"
SECRET = "backup-test-secret-" + "s" * 40


def server(data_dir: Path, **env: str) -> ShopServer:
    """shop as a newcomer runs it, with the JWT secret the backup must be restored with."""
    return ShopServer(data_dir, newcomer=True, JWT_SECRET_KEY=SECRET, **env)


def shop(data_dir: Path, *args: str, stdin: str | None = None, **env: str) -> str:
    return server(data_dir, **env).command(*args, stdin=stdin, timeout=180)


def signs_in(data_dir: Path, **env: str) -> int:
    serving = server(data_dir, **env).start_ready()
    try:
        response = httpx.post(
            f"{serving.url}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30
        )
    finally:
        serving.stop()
    return response.status_code


def test_the_runbook_names_these_commands() -> None:
    runbook = (ROOT / "docs" / "BACKUP.md").read_text(encoding="utf-8")
    for command in ("shop backup", "shop restore", "pg_dump", "pg_restore", "JWT_SECRET_KEY"):
        assert command in runbook, command


def test_embedded_back_up_lose_the_data_dir_restore_sign_in(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shop(data_dir, "create-admin", EMAIL, stdin=PASSWORD + "\n")
    dump = tmp_path / "shop.dump"
    assert "backed up" in shop(data_dir, "backup", str(dump))
    assert dump.stat().st_size > 0
    # The disk is lost: shop starts again on a new, empty DATA_DIR (a new embedded database).
    shutil.rmtree(data_dir, ignore_errors=True)
    new_data_dir = tmp_path / "new-data"
    assert "restored" in shop(new_data_dir, "restore", str(dump))
    assert signs_in(new_data_dir) == 200


def test_external_back_up_drop_restore_sign_in(tmp_path: Path, server_url: str, worker_id: str) -> None:
    name = f"shop_backup_{worker_id}_{secrets.token_hex(4)}"
    url = asyncio.run(create_database(server_url, name))
    data_dir = tmp_path / "data"
    try:
        shop(data_dir, "create-admin", EMAIL, stdin=PASSWORD + "\n", DATABASE_URL=url)
        dump = tmp_path / "shop.dump"
        shop(data_dir, "backup", str(dump), DATABASE_URL=url)
        # Dropped and made anew, empty: as after `DROP DATABASE` by mistake.
        asyncio.run(drop_database(server_url, name))
        asyncio.run(create_database(server_url, name))
        assert make_url(url).database == name
        shop(data_dir, "restore", str(dump), DATABASE_URL=url)
        assert signs_in(data_dir, DATABASE_URL=url) == 200
    finally:
        asyncio.run(drop_database(server_url, name))
