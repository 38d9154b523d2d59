"""`shop create-admin EMAIL`."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime

from email_validator import EmailNotValidError, validate_email

from shop.auth.errors import KeyRotationUnavailable
from shop.auth.models import SigningKey
from shop.auth.service import AccountService, AuthTools, SigningKeyService
from shop.auth.tokens import is_asymmetric
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.errors import ShopError


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password for the new admin: ")
    return sys.stdin.readline().rstrip("\r\n")


async def create_admin(tools: AuthTools, database: Database, email: str) -> str:
    """Make EMAIL a verified admin (created with a password read from stdin when it is new). `tools`
    come from `shop.bootstrap`, so the new account gets its profile as at registration."""
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise SystemExit(f"shop: not a valid email address: {exc}") from None
    async with database.unit_of_work() as session:
        service = AccountService(session, database, tools)
        existing = await service.users.get_by_email(email)
        password = None if existing is not None else _read_password()
        try:
            user_id, created = await service.ensure_admin(email, password)
        except ShopError as error:
            reason = error.errors[0]["msg"] if error.errors else error.detail
            raise SystemExit(f"shop: {reason}") from None
    verb = "created" if created else "promoted"
    report = f"{email} ({user_id}) {verb}: a verified admin"
    if tools.settings.admin_needs_mfa:
        report += (
            "\nADMIN_MFA_REQUIRED is on: admin routes answer 403 mfa_required until this admin turns on"
            " two-step sign-in (POST /api/v1/auth/mfa/totp/setup, then /mfa/totp/confirm) and signs in"
            " again with a code (/login, then /mfa/verify)."
        )
    return report


def _key_lines(keys: list[SigningKey]) -> str:
    def when(moment: datetime | None) -> str:
        return moment.isoformat(timespec="milliseconds") if moment else "-"

    lines = [
        f"{key.kid}  {key.state:<7}  {key.alg:<5}  created {when(key.created_at)}  "
        f"activated {when(key.activated_at)}  retired {when(key.retired_at)}"
        for key in keys
    ]
    return "\n".join(lines)


def check_keys_kept(settings: Settings, *, rotating: bool) -> None:
    """With HS256 there are no key pairs: say so and stop (non-zero for a rotation, as the API's 409)."""
    if is_asymmetric(settings.jwt_algorithm):
        return
    if rotating:
        raise SystemExit(f"shop: {KeyRotationUnavailable.detail}")
    print("no signing keys: JWT_ALGORITHM is HS256 (tokens are signed with JWT_SECRET_KEY)")
    raise SystemExit(0)


async def list_keys(settings: Settings, url: str) -> str:
    """`shop keys list`: one line per key — kid, state, alg, and when it was made, activated, retired."""
    database = Database.from_url(url, pool_size=1)
    try:
        async with database.unit_of_work() as session:
            keys = await SigningKeyService(session, settings).listing()
    finally:
        await database.dispose()
    return _key_lines(keys) or "no signing keys yet: `shop serve` makes them on its first start"


async def rotate_keys(settings: Settings, url: str) -> str:
    """`shop keys rotate`: as POST /api/v1/admin/keys/rotate. Running instances notice within 10 s."""
    database = Database.from_url(url, pool_size=1)
    try:
        async with database.unit_of_work() as session:
            keys = await SigningKeyService(session, settings).rotate()
    finally:
        await database.dispose()
    return _key_lines(keys)
