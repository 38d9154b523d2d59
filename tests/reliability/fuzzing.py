"""What the fuzz tests share: the checks every response must pass, and the server they fuzz."""

from __future__ import annotations

import os
import zlib
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

from tests.support.app import offline_app
from tests.support.auth import PASSWORD, bearer
from tests.support.databases import temporary_database
from tests.support.serve import ShopServer, register_verified, sign_in
from tests.support.smtp import SmtpSink
from tests.support.users import address_body

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
PROBLEM_JSON = "application/problem+json"
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code"}
# Calls that end the caller's session(s): fuzzed apart, each with a session of its own, so that the
# other runs keep theirs (a fuzzer that signs itself out reaches nothing behind the sign-in).
ENDS_SESSIONS = {"auth_logout", "auth_logout_all", "auth_change_password", "auth_delete_me"}
# The answers that say a call did not run signed in.
SIGNED_OUT = {"not_authenticated", "token_invalid", "token_expired", "token_revoked"}


def _schema() -> Any:
    app = offline_app()
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
    """The server under test, the accounts its fuzzed calls act as, and what ran signed in.

    `customer` and `other` are verified customers, `admin` an admin; `ids` their user ids. The
    customer owns `address_id`, which the address operations are pointed at in half their cases (a
    generated id finds nothing); the admin's user operations are pointed at `other` likewise, never
    at the admin itself (that would be self-harm, not a finding)."""

    server: ShopServer
    smtp: SmtpSink
    user_email: str
    admin_email: str
    other_email: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    address_id: str = ""
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    signed_in: dict[str, int] = field(default_factory=dict)

    def email(self, role: str) -> str:
        return {"admin": self.admin_email, "customer": self.user_email, "other": self.other_email}[role]

    def headers(self, operation_id: str, path: str, role: str | None = None) -> dict[str, str]:
        role = role or ("admin" if path.startswith("/api/v1/admin") else "customer")
        if role not in self.tokens:
            self.tokens[role] = self._sign_in(self.email(role))
        return bearer(self.tokens[role])

    def fresh_session(self, role: str = "customer") -> dict[str, str]:
        """A session of its own, for a call that may end it."""
        self.tokens.pop(role, None)
        return self.headers("", "", role)

    def _sign_in(self, email: str) -> dict[str, Any]:
        base = self.server.url
        response = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        if response.status_code == 403 and email != self.admin_email:
            # A fuzzed admin call deactivated this user: the admin turns it back on.
            admin = bearer(sign_in(base, self.admin_email))
            found = httpx.get(f"{base}/api/v1/admin/users", params={"email": email}, headers=admin).json()
            patched = httpx.patch(
                f"{base}/api/v1/admin/users/{found[0]['id']}", json={"is_active": True}, headers=admin
            )
            assert patched.status_code == 200, patched.text
            return sign_in(base, email)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def point_at_known_ids(self, case: Any) -> None:
        """Half the cases of an operation on an address or a user go to one that exists."""
        parameters = case.path_parameters or {}
        for name, known in (("address_id", self.address_id), ("user_id", self.ids.get("other", ""))):
            value = parameters.get(name)
            if known and isinstance(value, str) and zlib.crc32(value.encode()) % 2 == 0:
                parameters[name] = known
        if parameters.get("user_id") == self.ids.get("admin"):
            parameters["user_id"] = self.ids["other"]  # never the admin itself

    def ensure_address(self) -> None:
        """The customer's address, made again when a fuzzed DELETE removed it."""
        base, headers = self.server.url, self.headers("", "", "customer")
        if (
            self.address_id
            and httpx.get(f"{base}/api/v1/addresses/{self.address_id}", headers=headers).is_success
        ):
            return
        created = httpx.post(f"{base}/api/v1/addresses", json=ADDRESS, headers=headers)
        assert created.status_code == 201, created.text
        self.address_id = str(created.json()["id"])

    def after(self, operation_id: str, status: int, body: Any = None, *, signed_in: bool = False) -> None:
        self.calls[operation_id] = self.calls.get(operation_id, 0) + 1
        refused = status == 401 and isinstance(body, dict) and body.get("code") in SIGNED_OUT
        if signed_in and not refused:
            self.signed_in[operation_id] = self.signed_in.get(operation_id, 0) + 1
        if operation_id in ENDS_SESSIONS or status == 401:
            self.tokens.clear()
        if operation_id == "users_delete_address" and status == 204:
            self.ensure_address()

    def report(self) -> str:
        ran = sum(self.calls.values())
        signed = sum(self.signed_in.values())
        lines = [
            f"fuzzed {ran} calls over {len(self.calls)} operations; {signed} ran signed in "
            f"({len(self.signed_in)} operations):",
            *(
                f"  {op}: {self.signed_in.get(op, 0)}/{count} signed in"
                for op, count in sorted(self.calls.items())
            ),
        ]
        return "\n".join(lines)


ADDRESS = address_body(type="both")


async def serve_for_fuzzing(
    server_url: str, worker_id: str, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> AsyncIterator[Target]:
    """A `shop serve` on a database of its own, with a verified user and an admin to act as."""
    async with temporary_database(server_url, f"shop_fuzz_{kind}_{worker_id}") as url:
        async for target in _serving(url, tmp_path_factory.mktemp(f"fuzz-{kind}") / "data"):
            yield target


async def _serving(url: str, data_dir: Path) -> AsyncIterator[Target]:
    smtp = SmtpSink()
    smtp.start()
    server = ShopServer(
        data_dir,
        smtp=smtp,
        DATABASE_URL=url,
        # Fuzzing is about answers, not abuse limits: it sends far more than any limit allows.
        RATE_LIMIT_ENABLED="false",
        LOCKOUT_THRESHOLD="1000000",
    )
    try:
        server.start().wait_ready()
        user, admin, other = "fuzz-user@example.com", "fuzz-admin@example.com", "fuzz-other@example.com"
        await register_verified(server, user)
        await register_verified(server, other)
        server.create_admin(admin)
        found = Target(server, smtp, user, admin, other)
        for role in ("customer", "admin", "other"):
            me = httpx.get(f"{server.url}/api/v1/auth/me", headers=found.headers("", "", role))
            found.ids[role] = str(me.json()["id"])
        found.tokens.pop("other")
        found.ensure_address()
        yield found
        print("\n" + found.report())
    finally:
        code = server.stop()
        smtp.stop()
    assert code == 0, server.output()
    assert "Traceback" not in server.output(), server.output()


def operation_id(case: Any) -> str:
    return str(case.operation.definition.raw.get("operationId", case.operation.label))
