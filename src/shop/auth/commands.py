"""`shop create-admin EMAIL`, `shop mfa-off EMAIL` and `shop keys`."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime

from email_validator import EmailNotValidError, validate_email

from shop.auth.dependencies import account_service, mfa_service
from shop.auth.errors import KeyRotationUnavailable, SigningKeysSealedElsewhere
from shop.auth.keys.material import is_asymmetric
from shop.auth.keys.service import SigningKeyService
from shop.auth.models import SigningKey
from shop.auth.tools import AuthTools, Client
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
        service = account_service(session, database, tools)
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


async def turn_off_mfa(tools: AuthTools, database: Database, email: str) -> str:
    """Turn off EMAIL's two-step sign-in, as an admin's DELETE /admin/users/{id}/mfa does (audited,
    the user is mailed): the way back when no admin can pass a second step any more — the last
    admin lost the device, or a new JWT_SECRET_KEY voided every authenticator."""
    async with database.unit_of_work() as session:
        service = mfa_service(session, database, tools)
        user = await service.users.get_by_email(email.strip().lower())
        if user is None:
            raise SystemExit(f"shop: no account with the email {email}")
        try:
            await service.admin_turn_off_mfa(None, user.id, Client(ip=None, user_agent="shop mfa-off"))
        except ShopError as error:
            raise SystemExit(f"shop: {error.detail}") from None
    return f"{user.email} ({user.id}): two-step sign-in turned off; they sign in with their password and may turn it on again"


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


async def check_keys_open(settings: Settings, database: Database) -> str | None:
    """Before `shop serve` starts its workers: why JWT_SECRET_KEY cannot open the stored signing
    keys, in one line, or None (also with HS256, or before the first start)."""
    if not is_asymmetric(settings.jwt_algorithm):
        return None
    try:
        async with database.unit_of_work() as session:
            await SigningKeyService(session, settings).check_sealed()
    except SigningKeysSealedElsewhere as error:
        return str(error)
    return None


async def list_keys(settings: Settings, database: Database) -> tuple[str, str | None]:
    """`shop keys list`: one line per key — kid, state, alg, and when it was made, activated, retired;
    and, when JWT_SECRET_KEY cannot open the keys that sign, why (else None)."""
    problem = None
    async with database.unit_of_work() as session:
        service = SigningKeyService(session, settings)
        keys = await service.listing()
        try:
            await service.check_sealed()
        except SigningKeysSealedElsewhere as error:
            problem = str(error)
    return _key_lines(keys) or "no signing keys yet: `shop serve` makes them on its first start", problem


async def rotate_keys(settings: Settings, database: Database, *, new_secret: bool = False) -> str:
    """`shop keys rotate [--new-secret]`: as POST /api/v1/admin/keys/rotate. Running instances
    notice within 10 s. Keys sealed under another JWT_SECRET_KEY: one line, exit 1, nothing changed."""
    try:
        async with database.unit_of_work() as session:
            keys = await SigningKeyService(session, settings).rotate(new_secret=new_secret)
    except SigningKeysSealedElsewhere as error:
        raise SystemExit(f"shop: {error}") from None
    return _key_lines(keys)
