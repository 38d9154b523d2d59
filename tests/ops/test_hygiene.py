"""What a developer and an operator notice: `make test` leaves `.data` alone, the password schema says
the server's minimum, production log lines carry no terminal colours."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx

from shop.core.config import Settings
from shop.core.logging import JsonFormatter, QuietStart
from tests.conftest import TEST_DATA

ROOT = Path(__file__).resolve().parents[2]


def test_tests_write_nothing_into_the_developers_data() -> None:
    assert not TEST_DATA.resolve().is_relative_to(ROOT.joinpath(".data").resolve())
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "tests").rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"""ROOT\s*/\s*["']\.data["']""", line)
    ]
    assert offenders == []


def test_the_new_password_schema_says_the_server_minimum() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    minimum = Settings.model_fields["password_min_length"].default
    assert minimum == 8
    for schema, field in [
        ("RegisterRequest", "password"),
        ("PasswordResetRequest", "password"),
        ("ChangePasswordRequest", "new_password"),
    ]:
        assert schemas[schema]["properties"][field]["minLength"] == minimum, (schema, field)


async def test_the_server_refuses_below_the_schema_minimum(client: httpx.AsyncClient) -> None:
    short = "a" * 7
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "short@example.com", "password": short, "confirm_password": short},
    )
    assert response.status_code == 422, response.text


def test_log_lines_carry_no_colour_codes_and_no_alembic_chatter() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, "", 0, "Started server process [%d]", (7,), None
    )
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    line = JsonFormatter().format(record)
    assert "color_message" not in line and "\x1b" not in line
    quiet = QuietStart()
    chatter = logging.LogRecord(
        "alembic.runtime.migration", logging.INFO, "", 0, "Will assume transactional DDL.", (), None
    )
    plugin = logging.LogRecord(
        "alembic.runtime.plugins", logging.INFO, "", 0, "setup plugin %s", ("x",), None
    )
    upgrade = logging.LogRecord(
        "alembic.runtime.migration", logging.INFO, "", 0, "Running upgrade a -> b", (), None
    )
    assert not quiet.filter(chatter) and not quiet.filter(plugin) and quiet.filter(upgrade)
