"""POST /api/v1/auth/passkeys/authenticate under load, with the tests' software authenticator.

A passkey sign-in spends its challenge: every request of a run needs an assertion of its own. Before
each run, fresh challenges are written into `auth.passkey_challenges` as /authentication-options
writes them (SHA-256, 5 minutes) and signed by the passkeys of a few accounts (EdDSA, a counter
that stays 0, as synced passkeys keep it), so that wrk only sends what a browser would send and
the figure is the sign-in's alone. More assertions are made than a run can spend; a run that spent
them all would show 401s, which the harness flags.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support.webauthn import SoftAuthenticator, b64url

from benchmarks import data
from benchmarks.harness import WORK, Server, http_json

PATH = "/api/v1/auth/passkeys"
PASSKEY_USERS = 32  # accounts whose passkeys sign in (a sign-in locks its passkey's row)
ASSERTIONS = 25_000  # per run: more than a run of a few seconds spends


def origin(server: Server) -> str:
    """The origin a `shop serve --port P` with no PUBLIC_URL accepts (its public URL follows the port)."""
    return f"http://localhost:{server.port}"


def enrol(server: Server, numbers: list[int]) -> list[SoftAuthenticator]:
    """A passkey for each of these accounts, added through the API as a browser would."""
    authenticators = []
    for number in numbers:
        pair = http_json(
            server.base + "/api/v1/auth/login", {"email": data.email(number), "password": data.PASSWORD}
        )
        assert isinstance(pair, dict)
        token = str(pair["access_token"])
        options = http_json(server.base + f"{PATH}/registration-options", {"password": data.PASSWORD}, token)
        assert isinstance(options, dict)
        authenticator = SoftAuthenticator(origin(server), algorithm="EdDSA", counts=False)
        credential = authenticator.create(options)
        http_json(server.base + PATH, {"credential": credential, "name": "bench"}, token)
        authenticators.append(authenticator)
    return authenticators


async def assertions(
    url: str, name: str, authenticators: list[SoftAuthenticator], count: int = ASSERTIONS
) -> str:
    """A request file of `count` sign-ins, each with a challenge of its own, live for 5 minutes."""
    challenges = [secrets.token_bytes(32) for _ in range(count)]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO auth.passkey_challenges (challenge_hash, purpose, expires_at) "
                    "VALUES (:hash, 'authenticate', now() + interval '5 minutes')"
                ),
                [{"hash": hashlib.sha256(challenge).digest()} for challenge in challenges],
            )
    finally:
        await engine.dispose()

    def write() -> str:
        path = Path(WORK / f"passkey-{name}.requests")
        with path.open("w") as handle:
            for index, challenge in enumerate(challenges):
                authenticator = authenticators[index % len(authenticators)]
                assertion = authenticator.get({"challenge": b64url(challenge), "rpId": "localhost"})
                handle.write(f"POST\t{PATH}/authenticate\t-\t{json.dumps({'credential': assertion})}\n")
        return str(path)

    return await asyncio.to_thread(write)
