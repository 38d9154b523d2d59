"""The TypeScript clients generated from docs/openapi.json (examples/typescript): generated with
openapi-typescript and @hey-api/openapi-ts at their defaults, compiled with `tsc --strict` together
with code that switches on each operation's problem codes (no `any`, no suppressed error), and run with Node
against a live `shop serve` — sign-up, the verification mail, sign-in, profile, addresses, money,
refusals by their `code`, and two-step sign-in with a TOTP code computed in TypeScript."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.openapi.test_redocly import ROOT, node_tool
from tests.support.serve import ShopServer

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "typescript"
BIN = ROOT / "node_modules" / ".bin"
ADMIN_EMAIL = "ts-admin@example.com"
ADMIN_PASSWORD = "admin horse battery staple"
# `any` in a type position (comments may say "any").
ANY_TYPE = re.compile(r"(?::|<|\||&|,|\bas)\s*any\b|\bany\s*(?:\[\]|>|\||&)")
SUPPRESSED = re.compile(r"@ts-(?:expect-error|ignore|nocheck)")


def run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,
    )  # type: ignore[call-overload]


def code_lines(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped.startswith(("*", "/*", "//")):
            yield number, line


@pytest.fixture(scope="module")
def compiled() -> Path:
    """Generate the types from the committed document and compile the example; answer the script."""
    node_tool(BIN / "tsc")
    # Both test workers may build the example at once (each runs this fixture for its own tests),
    # into the same folders of the checkout: one at a time, or one reads what the other half wrote.
    with (EXAMPLE / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Both generators at their defaults (hey-api told only the module system of the example):
        # what a new adopter runs first must give a client that compiles.
        generated = run(
            BIN / "openapi-typescript", "docs/openapi.json", "-o", EXAMPLE / "generated" / "schema.ts"
        )
        assert generated.returncode == 0, generated.stderr
        generated = run(BIN / "openapi-ts", "--silent", "-f", EXAMPLE / "openapi-ts.config.mjs")
        assert generated.returncode == 0, generated.stdout + generated.stderr
        built = run(BIN / "tsc", "-p", EXAMPLE, "--strict")
        assert built.returncode == 0, built.stdout + built.stderr
    return EXAMPLE / "dist" / "src" / "flow.js"


def test_the_client_is_typed_without_any_or_suppressed_errors(compiled: Path) -> None:
    sources = [*sorted((EXAMPLE / "src").glob("*.ts")), EXAMPLE / "generated" / "schema.ts"]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in code_lines(path)
        if ANY_TYPE.search(line) or SUPPRESSED.search(line)
    ]
    assert not found, found
    assert "operations" in (EXAMPLE / "generated" / "schema.ts").read_text(encoding="utf-8")


def test_problem_codes_are_typed_per_operation_and_status(compiled: Path) -> None:
    """src/codes.ts switches over every code /login can answer with a `never` default: it compiles
    only while the codes are an enum per operation (a bare `string` code leaves the default
    reachable); the generated types name them."""
    types = (EXAMPLE / "generated" / "hey-api" / "types.gen.ts").read_text(encoding="utf-8")
    assert "code: 'email_not_verified' | 'account_disabled' | 'mfa_required' | 'csrf_failed'" in types
    assert "mfa_token?: string" in types
    assert "error: 'invalid_grant'" in types
    schema = (EXAMPLE / "generated" / "schema.ts").read_text(encoding="utf-8")
    assert '"email_not_verified" | "account_disabled" | "mfa_required" | "csrf_failed"' in schema


@pytest.fixture
def shop_serve(tmp_path: Path, database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    # No SMTP_HOST: mail is saved as .eml under DATA_DIR/mail.
    server = ShopServer(
        tmp_path / "data",
        DATABASE_URL=database_url,
        MAIL_POLL_SECONDS="0.05",
        RATE_LIMIT_ENABLED="false",
        ADMIN_MFA_REQUIRED="false",
    )
    server.create_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    server.start_ready()
    try:
        yield server.url, server.env
    finally:
        server.stop()


def test_the_generated_client_runs_the_whole_flow(
    compiled: Path, shop_serve: tuple[str, dict[str, str]]
) -> None:
    url, env = shop_serve
    result = run(
        "node",
        compiled,
        env={
            **os.environ,
            "SHOP_URL": url,
            "SHOP_MAIL_DIR": str(Path(env["DATA_DIR"]) / "mail"),
            "SHOP_ADMIN_EMAIL": ADMIN_EMAIL,
            "SHOP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step in (
        "409 email_taken",
        "email verified with the token from the mail",
        "422 unknown_currency",
        "second address made primary",
        "10.50 EUR is 1685 JPY",
        "422 validation_error names the field",
        "signed in with password and TOTP code",
        "all steps passed",
    ):
        assert step in result.stdout, result.stdout
