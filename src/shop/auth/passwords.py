"""Password hashing (argon2id through passlib) and the password rules of API.md (NIST SP 800-63B)."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from passlib.context import CryptContext

from shop.core.config import Settings

MAX_PASSWORD_LENGTH = 128
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def password_problem(password: str, email: str | None, min_length: int) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < min_length:
        return f"The password must have at least {min_length} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must have at most {MAX_PASSWORD_LENGTH} characters."
    if email is not None and password.strip().lower() == email.strip().lower():
        return "The password must not be the email address."
    if password.lower() in common_passwords():
        return "This password is too common: it appears in lists of breached passwords."
    return None


class PasswordHasher:
    """argon2id with configurable cost. Hashing runs in a worker thread, never on the event loop."""

    def __init__(self, settings: Settings) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=settings.argon2_memory_cost,
            argon2__rounds=settings.argon2_time_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return str(await asyncio.to_thread(self._context.hash, password))

    async def verify(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one uses outdated parameters)."""
        ok, new_hash = await asyncio.to_thread(self._context.verify_and_update, password, hashed)
        return bool(ok), new_hash

    def check(self, password: str, hashed: str) -> bool:
        """One plain verify, blocking (no rehash): what `burn` spends."""
        return bool(self._context.verify(password, hashed))

    async def burn(self, password: str) -> None:
        """Spend one verify on a dummy hash, so an unknown email costs what a wrong password does."""
        if self._dummy is None:
            self._dummy = await self.hash("dummy password for timing equality")
        await asyncio.to_thread(self.check, password, self._dummy)
