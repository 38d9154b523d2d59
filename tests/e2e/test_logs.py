"""The logs of a real `shop serve` session, as a newcomer's `make run` writes them (no SMTP_HOST):
every line one JSON object; request lines with their request id and, once known, the user id; the
development copy of a mail as one record whose link works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.app import truncate_mutable
from tests.support.auth import PASSWORD, new_email
from tests.support.serve import ShopServer, start_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def wait_for_record(server: ShopServer, predicate: Any) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((dict(record) for record in server.log_records() if predicate(record)), None)

    return wait_until(found, lambda: f"a log record like that in:\n{server.output()}", 30, 0.05)


async def test_every_log_line_is_json_with_request_and_user(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    server = start_server(tmp_path / "data", database_url, smtp=None)
    email = new_email()
    try:
        with httpx.Client(base_url=server.url) as api:
            registered = api.post(
                "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD, "confirm_password": PASSWORD},
            )
            assert registered.status_code == 201
            mail = wait_for_record(server, lambda r: r.get("to") == email and "body" in r)
            (link,) = mail["links"]
            assert link.startswith(f"{server.url}/verify-email?token=") and link in mail["body"]
            # The saved .eml holds the same link, whole, on a line of its own.
            assert link in Path(mail["file"]).read_text(encoding="utf-8").splitlines()
            assert api.get(link).status_code == 200  # the page; the token is not spent
            token = link.split("token=", 1)[1]
            assert api.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 200
            pair = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
            me = api.get(
                "/api/v1/auth/me",
                headers={"Authorization": f"Bearer {pair['access_token']}", "X-Request-ID": "walk-me-1"},
            )
            assert me.status_code == 200
            wait_for_record(server, lambda r: r.get("request_id") == "walk-me-1")
    finally:
        server.stop()
        await truncate_mutable(engine)

    lines = server.log_lines()
    records = [json.loads(line) for line in lines]  # every line of the session is one JSON object
    assert all(isinstance(record, dict) and {"time", "level", "message"} <= set(record) for record in records)
    requests = [r for r in records if r["message"] == "request"]
    assert requests and all(r["request_id"] for r in requests)
    (me_line,) = [r for r in requests if r["request_id"] == "walk-me-1"]
    assert me_line["user_id"] == pair["user"]["id"]
    assert me_line["route"] == "/api/v1/auth/me" and me_line["status"] == 200
    (login_line,) = [r for r in requests if r["route"] == "/api/v1/auth/login"]
    assert login_line["user_id"] == pair["user"]["id"]
    (register_line,) = [r for r in requests if r["route"] == "/api/v1/auth/register"]
    assert "user_id" not in register_line
    assert any(r["logger"].startswith("uvicorn") for r in records)  # the server's own lines too
    assert PASSWORD not in "\n".join(lines)
