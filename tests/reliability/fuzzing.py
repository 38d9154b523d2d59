"""What the fuzz tests share: the checks every response must pass, and the server they fuzz."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shop.bootstrap import create_app
from tests.reliability.support import PASSWORD, ShopServer, bearer, create_admin, sign_in, sign_up
from tests.support.app import make_settings
from tests.support.databases import create_database, drop_database
from tests.support.smtp import SmtpSink

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
PROBLEM_JSON = "application/problem+json"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code"}
# Calls that end the caller's session(s): the next call signs in again.
ENDS_SESSIONS = {"auth_logout", "auth_logout_all", "auth_change_password", "auth_delete_me"}


def _schema() -> Any:
    app = create_app(make_settings("postgresql+asyncpg://nobody@127.0.0.1:1/none", Path("/nonexistent")))
    return schemathesis.openapi.from_dict(app.openapi())


schema = _schema()


@schemathesis.check
def problem_json_for_errors(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """Every error of the API is RFC 9457 problem+json (API.md); /health/ready's 503 has its own body."""
    if response.status_code < 400 or case.operation.path == "/health/ready":
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, f"error answered as {content_type!r}"
    body = response.json()
    missing = PROBLEM_MEMBERS - set(body)
    assert not missing, f"problem lacks {sorted(missing)}"
    assert body["status"] == response.status_code, "problem status differs from the HTTP status"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json_for_errors,
]


@dataclass
class Target:
    """The server under test and the credentials its fuzzed calls use."""

    server: ShopServer
    smtp: SmtpSink
    user_email: str
    admin_email: str
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def headers(self, operation_id: str, path: str) -> dict[str, str]:
        role = "admin" if path.startswith("/api/v1/admin") else "user"
        if role not in self.tokens:
            email = self.admin_email if role == "admin" else self.user_email
            self.tokens[role] = self._sign_in(email)
        return bearer(self.tokens[role])

    def _sign_in(self, email: str) -> dict[str, Any]:
        base = self.server.url
        response = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        if response.status_code == 403 and email != self.admin_email:
            # A fuzzed admin call deactivated the fixture user: the admin turns it back on.
            admin = bearer(sign_in(base, self.admin_email))
            found = httpx.get(f"{base}/api/v1/admin/users", params={"email": email}, headers=admin).json()
            patched = httpx.patch(
                f"{base}/api/v1/admin/users/{found[0]['id']}", json={"is_active": True}, headers=admin
            )
            assert patched.status_code == 200, patched.text
            return sign_in(base, email)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def after(self, operation_id: str, status: int) -> None:
        self.calls[operation_id] = self.calls.get(operation_id, 0) + 1
        if operation_id in ENDS_SESSIONS or status == 401:
            self.tokens.clear()


async def serve_for_fuzzing(
    server_url: str, worker_id: str, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> AsyncIterator[Target]:
    """A `shop serve` on a database of its own, with a verified user and an admin to act as."""
    name = f"shop_fuzz_{kind}_{worker_id}_{os.getpid()}"
    url = await create_database(server_url, name)
    smtp = SmtpSink()
    smtp.start()
    data_dir = tmp_path_factory.mktemp(f"fuzz-{kind}") / "data"
    server = ShopServer(
        data_dir,
        DATABASE_URL=url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        # Fuzzing is about answers, not abuse limits: it sends far more than any limit allows.
        RATE_LIMIT_ENABLED="false",
        LOCKOUT_THRESHOLD="1000000",
    )
    try:
        server.start().wait_ready()
        user, admin = "fuzz-user@example.com", "fuzz-admin@example.com"
        sign_up(server.url, smtp, user)
        create_admin(server.env, data_dir.parent, admin)
        found = Target(server, smtp, user, admin)
        yield found
        print(f"\nfuzzed calls per operation: {dict(sorted(found.calls.items()))}")
    finally:
        code = server.stop()
        smtp.stop()
        await drop_database(server_url, name)
    assert code == 0, server.output()
    assert "Traceback" not in server.output(), server.output()


def operation_id(case: Any) -> str:
    return str(case.operation.definition.raw.get("operationId", case.operation.label))
