"""`shop create-admin EMAIL`."""

from __future__ import annotations

import getpass
import sys

from email_validator import EmailNotValidError, validate_email

from shop.auth.service import AccountService, AuthTools
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
