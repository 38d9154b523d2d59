"""Lockout lengths and Retry-After checked exactly, however loaded the machine is.

PostgreSQL writes a lock as `now() + length`, where now() is the start of the writing transaction;
Retry-After counts the whole seconds from the moment the service answers to that end. How many
seconds pass between those instants depends on the machine's load, so a test never guesses them:
- the length is `locked_until - now()` read in the test's own transaction: a test on `client` or
  `db` runs in one transaction, whose now() is the very instant the lock was counted from;
- Retry-After lies between the seconds left at the instants read just after and just before the
  request (`Timed`), since the service answered in between.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import func, select

from shop.auth.models import User
from shop.core.db import Database

T = TypeVar("T")


@dataclass(frozen=True)
class Timed(Generic[T]):
    value: T
    before: datetime
    after: datetime


async def timed(call: Awaitable[T]) -> Timed[T]:
    """The result of `call` with the wall-clock instants just before and just after it."""
    before = datetime.now(UTC)
    value = await call
    return Timed(value, before, datetime.now(UTC))


async def locked_until(database: Database, email: str) -> datetime:
    async with database.sessions() as session:
        until = await session.scalar(select(User.locked_until).where(User.email == email))
    assert until is not None, f"{email} is not locked"
    return until


async def lock_length(database: Database, email: str) -> timedelta:
    """How long the lock lasts from the instant it was set (the test's transaction's now())."""
    async with database.sessions() as session:
        length = await session.scalar(select(User.locked_until - func.now()).where(User.email == email))
    assert length is not None, f"{email} is not locked"
    return length


def seconds_left(until: datetime, at: datetime) -> int:
    """Retry-After as the service computes it at `at`: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil((until - at).total_seconds()))


def assert_retry_after(
    headers: Mapping[str, str], until: datetime, before: datetime, after: datetime
) -> None:
    """Retry-After is the time left until `until`, seen at some instant between before and after."""
    retry_after = int(headers["Retry-After"])
    assert seconds_left(until, after) <= retry_after <= seconds_left(until, before), (
        retry_after,
        until,
        before,
        after,
    )
