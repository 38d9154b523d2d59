"""A test authenticator app built from pyotp, and the two-step sign-in steps the tests share.

The server checks codes at the time of its `clock` collaborator (`bootstrap(settings, clock=…)`); a
test hands it a `Clock` it moves by whole time steps, so it never waits for the next code."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp

from shop.auth.mfa import codes as mfa
from tests.support.auth import PASSWORD, bearer

MFA = "/api/v1/auth/mfa"


@dataclass
class Clock:
    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def tick(self, steps: int = 1) -> None:
        self.now += steps * mfa.INTERVAL_SECONDS


@dataclass
class Authenticator:
    """What a phone app does: reads the otpauth URI and shows the code of the current 30 s step."""

    totp: pyotp.TOTP
    clock: Clock

    @classmethod
    def scan(cls, otpauth_uri: str, clock: Clock) -> Authenticator:
        totp = pyotp.parse_uri(otpauth_uri)
        assert isinstance(totp, pyotp.TOTP)
        return cls(totp, clock)

    def code(self) -> str:
        return self.totp.at(self.clock.now)

    def next_code(self) -> str:
        """A code of a step the server has not seen yet (as a person waiting for the next code)."""
        self.clock.tick()
        return self.code()


@dataclass
class Enrolled:
    app: Authenticator
    recovery_codes: list[str]
    setup: dict[str, Any]


async def setup(client: httpx.AsyncClient, pair: dict[str, Any], password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{MFA}/totp/setup", json={"password": password}, headers=bearer(pair))


async def enrol(client: httpx.AsyncClient, pair: dict[str, Any], clock: Clock) -> Enrolled:
    """Turn two-step sign-in on for the signed-in user of `pair`, as a person with a phone would."""
    started = await setup(client, pair)
    assert started.status_code == 200, started.text
    app = Authenticator.scan(started.json()["otpauth_uri"], clock)
    confirmed = await client.post(f"{MFA}/totp/confirm", json={"code": app.code()}, headers=bearer(pair))
    assert confirmed.status_code == 200, confirmed.text
    return Enrolled(app, confirmed.json()["recovery_codes"], started.json())


async def first_step(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """The password step: answers 403 mfa_required; returns the mfa_token."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "mfa_required" and body["methods"] == ["totp", "recovery_code"]
    return str(body["mfa_token"])


async def verify(client: httpx.AsyncClient, mfa_token: str, **code: str) -> httpx.Response:
    return await client.post(f"{MFA}/verify", json={"mfa_token": mfa_token, **code})


async def login_two_step(client: httpx.AsyncClient, email: str, app: Authenticator) -> dict[str, Any]:
    response = await verify(client, await first_step(client, email), code=app.next_code())
    assert response.status_code == 200, response.text
    return dict(response.json())
