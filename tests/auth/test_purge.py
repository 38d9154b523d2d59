"""Issue #8 §5: sessions, refresh tokens, login challenges and email tokens that ended more than
SESSION_RETENTION_DAYS ago are purged by auth's upkeep — also by several instances at once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.auth.upkeep import AuthUpkeep
from tests.support.app import AppWith
from tests.support.factories import signed_in_user
from tests.support.waiting import wait_until_async

# Ended 31 days ago goes, ended 29 days ago stays (SESSION_RETENTION_DAYS=30).
SEED = """
WITH u AS (SELECT CAST(:uid AS uuid) AS id)
INSERT INTO auth.sessions (id, user_id, created_at, expires_at, revoked_at, ip, amr)
SELECT gen_random_uuid(), u.id, now() - interval '120 days', e, r, '192.0.2.9', '{pwd}' FROM u,
  (VALUES (now() - interval '31 days', NULL::timestamptz),   -- expired long ago: goes
          (now() + interval '5 days', now() - interval '31 days'), -- revoked long ago: goes
          (now() - interval '29 days', NULL),                 -- expired recently: stays
          (now() + interval '5 days', now() - interval '29 days'), -- revoked recently: stays
          (now() + interval '5 days', NULL)) AS v(e, r)      -- live: stays
"""


async def count(engine: AsyncEngine, query: str, **params: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(query), params) or 0)


async def seed(engine: AsyncEngine, user_id: uuid.UUID) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(SEED), {"uid": user_id})
        live = await connection.scalar(
            text(
                "SELECT id FROM auth.sessions WHERE user_id = :u AND expires_at > now() AND revoked_at IS NULL LIMIT 1"
            ),
            {"u": user_id},
        )
        for days, label in ((31, b"old"), (29, b"new")):
            await connection.execute(
                text(
                    "INSERT INTO auth.refresh_tokens (token_hash, session_id, created_at, expires_at, rotated_at) "
                    "VALUES (:h, :s, now() - make_interval(days => :d + 30), now() - make_interval(days => :d), "
                    "now() - make_interval(days => :d + 29))"
                ),
                {"h": label + user_id.bytes, "s": live, "d": days},
            )
            await connection.execute(
                text(
                    "INSERT INTO auth.mfa_challenges (token_hash, user_id, ip, created_at, expires_at) "
                    "VALUES (:h, :u, '192.0.2.9', now() - make_interval(days => :d), now() - make_interval(days => :d))"
                ),
                {"h": label + user_id.bytes, "u": user_id, "d": days},
            )
            await connection.execute(
                text(
                    "INSERT INTO auth.email_tokens (token_hash, user_id, purpose, created_at, expires_at, used_at) "
                    "VALUES (:h, :u, 'reset', now() - make_interval(days => :d), now() + interval '1 hour', "
                    "now() - make_interval(days => :d))"
                ),
                {"h": label + user_id.bytes, "u": user_id, "d": days},
            )


async def test_ended_sessions_and_tokens_are_purged_after_the_retention(
    app_with: AppWith, engine: AsyncEngine
) -> None:
    async with app_with(live=True) as app:
        assert app.state.settings.session_retention_days == 30
        user = await signed_in_user(app)
        await seed(engine, user.user_id)
        sessions_before = await count(
            engine, "SELECT count(*) FROM auth.sessions WHERE user_id = :u", u=user.user_id
        )
        # Three instances purge at the same moment: no error, and the result is one purge's.
        instances = [AuthUpkeep(app.state.database, app.state.auth) for _ in range(3)]
        results = await asyncio.gather(*(instance.purge() for instance in instances))
        purged = [result for result in results if not result.skipped]
        assert purged
        assert sum(result.counts.get("sessions", 0) for result in results) == 2
        assert sum(result.counts.get("refresh_tokens", 0) for result in results) == 1
        assert sum(result.counts.get("mfa_challenges", 0) for result in results) == 1
        assert sum(result.counts.get("email_tokens", 0) for result in results) == 1
        assert (
            await count(engine, "SELECT count(*) FROM auth.sessions WHERE user_id = :u", u=user.user_id)
            == sessions_before - 2
        )
        for table in ("refresh_tokens", "mfa_challenges", "email_tokens"):
            assert (
                await count(
                    engine,
                    f"SELECT count(*) FROM auth.{table} WHERE token_hash = :h",  # noqa: S608 - fixed names
                    h=b"new" + user.user_id.bytes,
                )
                == 1
            )
            assert (
                await count(
                    engine,
                    f"SELECT count(*) FROM auth.{table} WHERE token_hash = :h",  # noqa: S608 - fixed names
                    h=b"old" + user.user_id.bytes,
                )
                == 0
            )
        # Again: nothing left to purge, and the user's own session is untouched.
        assert not any((await instances[0].purge()).counts.values())
        assert (
            await count(engine, "SELECT count(*) FROM auth.sessions WHERE id = :s", s=user.session_id)
        ) == 1


async def test_the_upkeep_purges_when_the_app_starts(app_with: AppWith, engine: AsyncEngine) -> None:
    """Started with the app's lifespan, like the mail sender: the first pass purges at once."""
    # The rows are seeded through an app without loops, which stays up (its exit would truncate them).
    async with app_with(live=True) as setup:
        user = await signed_in_user(setup)
        await seed(engine, user.user_id)

        async def purged() -> bool:
            old = b"old" + user.user_id.bytes
            return (
                await count(engine, "SELECT count(*) FROM auth.mfa_challenges WHERE token_hash = :h", h=old)
                == 0
            )

        async with app_with(live=True, loops=True):
            await wait_until_async(purged, "the upkeep purged the old challenge")
