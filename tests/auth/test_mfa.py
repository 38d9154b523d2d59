"""Two-step sign-in over HTTP, driven by a pyotp authenticator: enrolment, the two-step login, replay,
lockout, recovery codes, management, admin enforcement and reset, and what survives a password reset."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from shop.auth.mfa.codes import MfaKeys
from shop.auth.models import MfaChallenge, RecoveryCode, TotpFactor, User
from tests.support.app import AppWith, http_client, make_settings
from tests.support.auth import (
    PASSWORD,
    audit_events,
    bearer,
    claims,
    login,
    mail_subjects,
    outbox_tokens,
    register,
    register_verified,
)
from tests.support.lockout import assert_retry_after, lock_length, locked_until, timed
from tests.support.mfa import (
    MFA,
    Authenticator,
    Clock,
    enrol,
    first_step,
    login_two_step,
    setup,
    verify,
)
from tests.support.problems import assert_problem

ME = "/api/v1/auth/me"
WRONG = "wrong password here"


def wrong_code(app: Authenticator) -> str:
    """Six digits that are none of the codes the server would accept now."""
    valid = {app.totp.at(app.clock.now, counter_offset=offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


async def signed_in(client: httpx.AsyncClient, app: Any) -> tuple[str, dict[str, Any]]:
    email = await register_verified(client, app)
    return email, await login(client, email)


# -- enrolment ------------------------------------------------------------------------------


async def test_enrol_confirm_and_sign_in_in_two_steps(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    other_device = await login(client, email)
    assert claims(pair)["amr"] == ["pwd"]

    started = await setup(client, pair)
    assert started.status_code == 200, started.text
    body = started.json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    assert body["otpauth_uri"].startswith("otpauth://totp/shop:")
    assert f"secret={body['secret']}" in body["otpauth_uri"] and "issuer=shop" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("<svg")
    # Nothing is active yet: the password alone still signs in.
    assert (await client.get(ME, headers=bearer(pair))).json()["mfa_enabled"] is False
    await login(client, email)

    app_ = Authenticator.scan(body["otpauth_uri"], clock)
    confirmed = await client.post(f"{MFA}/totp/confirm", json={"code": app_.code()}, headers=bearer(pair))
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert (await client.get(ME, headers=bearer(pair))).json()["mfa_enabled"] is True
    # Every other session is signed out; this one lives on.
    assert_problem(await client.get(ME, headers=bearer(other_device)), 401, "token_revoked")
    assert "Two-step sign-in is on" in await mail_subjects(app, email)

    # The password now answers mfa_required, and starts no session.
    sessions_before = (await client.get("/api/v1/auth/sessions", headers=bearer(pair))).json()
    mfa_token = await first_step(client, email)
    sessions_after = (await client.get("/api/v1/auth/sessions", headers=bearer(pair))).json()
    assert sessions_after == sessions_before
    response = await verify(client, mfa_token, code=app_.next_code())
    assert response.status_code == 200, response.text
    second = response.json()
    assert claims(second)["amr"] == ["pwd", "otp"]
    assert second["user"]["email"] == email and second["refresh_expires_in"] > 0
    assert (await client.get(ME, headers=bearer(second))).status_code == 200
    # A refresh of that session keeps its amr.
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert claims(refreshed.json())["amr"] == ["pwd", "otp"]


async def test_the_oauth2_form_asks_for_the_second_step_too(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert_problem(response, 403, "mfa_required")
    mfa_token = response.json()["mfa_token"]
    assert (await verify(client, mfa_token, code=enrolled.app.next_code())).status_code == 200


async def test_setup_and_confirm_refusals(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    _, pair = await signed_in(client, app)
    assert_problem(await setup(client, pair, WRONG), 400, "invalid_current_password")
    assert_problem(
        await client.post(f"{MFA}/totp/confirm", json={"code": "123456"}, headers=bearer(pair)),
        404,
        "not_found",
    )
    # A new setup replaces a pending one: the first secret's codes no longer confirm.
    first = Authenticator.scan((await setup(client, pair)).json()["otpauth_uri"], clock)
    second = Authenticator.scan((await setup(client, pair)).json()["otpauth_uri"], clock)
    response = await client.post(f"{MFA}/totp/confirm", json={"code": first.code()}, headers=bearer(pair))
    assert_problem(response, 400, "invalid_code")
    response = await client.post(f"{MFA}/totp/confirm", json={"code": second.code()}, headers=bearer(pair))
    assert response.status_code == 200
    assert_problem(await setup(client, pair), 409, "mfa_enabled")
    response = await client.post(
        f"{MFA}/totp/confirm", json={"code": second.next_code()}, headers=bearer(pair)
    )
    assert_problem(response, 409, "mfa_enabled")
    # Unknown fields and malformed bodies are 422, as everywhere.
    response = await client.post(
        f"{MFA}/totp/setup", json={"password": PASSWORD, "role": "admin"}, headers=bearer(pair)
    )
    assert_problem(response, 422, "validation_error")


async def test_wrong_codes_at_confirm_do_not_count_as_failed_logins(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    app_ = Authenticator.scan((await setup(client, pair)).json()["otpauth_uri"], clock)
    for _ in range(6):
        response = await client.post(
            f"{MFA}/totp/confirm", json={"code": wrong_code(app_)}, headers=bearer(pair)
        )
        assert_problem(response, 400, "invalid_code")
    async with app.state.database.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None and user.failed_login_count == 0 and user.locked_until is None


async def test_the_secret_is_encrypted_at_rest_and_never_answered_again(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    secret = enrolled.setup["secret"]
    async with app.state.database.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        factor = await session.get(TotpFactor, user.id)
        assert factor is not None
        stored = bytes(factor.secret)
        hashes = (
            await session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id))
        ).all()
    assert secret.encode() not in stored and secret.lower().encode() not in stored
    assert MfaKeys.from_root(app.state.settings.signing_key()).open(stored) == secret
    # Recovery codes are stored as hashes only.
    assert len(hashes) == 10
    for code in enrolled.recovery_codes:
        assert all(code.replace("-", "").encode() not in bytes(h) for h in hashes)
    me = (await client.get(ME, headers=bearer(pair))).text
    assert secret not in me


# -- the second step ------------------------------------------------------------------------


async def test_a_code_is_accepted_once(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    code = enrolled.app.next_code()
    assert (await verify(client, await first_step(client, email), code=code)).status_code == 200
    # The same code again (still inside its window) is a replay.
    assert_problem(await verify(client, await first_step(client, email), code=code), 401, "invalid_code")
    # So is the code of the step before, once a later step was accepted.
    earlier = enrolled.app.totp.at(clock.now, counter_offset=-1)
    assert_problem(await verify(client, await first_step(client, email), code=earlier), 401, "invalid_code")
    # The next step's code works.
    assert (
        await verify(client, await first_step(client, email), code=enrolled.app.next_code())
    ).status_code == 200


async def test_one_step_of_drift_either_side(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    clock.tick(5)
    behind = enrolled.app.totp.at(clock.now, counter_offset=-1)
    assert (await verify(client, await first_step(client, email), code=behind)).status_code == 200
    ahead = enrolled.app.totp.at(clock.now, counter_offset=1)
    assert (await verify(client, await first_step(client, email), code=ahead)).status_code == 200
    clock.tick(5)
    too_far = enrolled.app.totp.at(clock.now, counter_offset=2)
    assert_problem(await verify(client, await first_step(client, email), code=too_far), 401, "invalid_code")


async def test_wrong_code_and_unknown_token_are_answered_alike(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    wrong = await verify(client, await first_step(client, email), code=wrong_code(enrolled.app))
    unknown = await verify(client, "not-a-token-at-all", code=enrolled.app.code())
    for response in (wrong, unknown):
        assert_problem(response, 401, "invalid_code")
        assert response.headers["www-authenticate"] == "Bearer"
    assert wrong.json() == unknown.json()
    assert {k for k in wrong.headers if k != "x-request-id"} == {
        k for k in unknown.headers if k != "x-request-id"
    }


async def test_wrong_codes_lock_the_account(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    mfa_token, spare = await first_step(client, email), await first_step(client, email)
    for _ in range(4):
        assert_problem(await verify(client, mfa_token, code=wrong_code(enrolled.app)), 401, "invalid_code")
    locked = await timed(verify(client, mfa_token, code=wrong_code(enrolled.app)))
    assert_problem(locked.value, 423, "account_locked")
    assert await lock_length(app.state.database, email) == timedelta(minutes=15)
    until = await locked_until(app.state.database, email)
    assert_retry_after(locked.value.headers, until, locked.before, locked.after)
    # While locked, the right password and the right code are refused too, and every /mfa endpoint.
    assert_problem(
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}),
        423,
        "account_locked",
    )
    assert_problem(await verify(client, spare, code=enrolled.app.next_code()), 423, "account_locked")
    manage = {"password": PASSWORD, "code": enrolled.app.next_code()}
    for response in (
        await setup(client, pair),
        await client.post(f"{MFA}/totp/confirm", json={"code": enrolled.app.code()}, headers=bearer(pair)),
        await client.post(f"{MFA}/recovery-codes", json=manage, headers=bearer(pair)),
        await client.request("DELETE", f"{MFA}/totp", json=manage, headers=bearer(pair)),
    ):
        assert_problem(response, 423, "account_locked")
    uid = (await client.get(ME, headers=bearer(pair))).json()["id"]
    assert [e.outcome for e in await audit_events(app, uid, "lockout")] == ["locked"]


async def test_five_wrong_codes_spend_the_mfa_token(app_with: AppWith, clock: Clock) -> None:
    async with app_with(lockout_threshold=50) as application, http_client(application) as client:
        email, pair = await signed_in(client, application)
        enrolled = await enrol(client, pair, clock)
        mfa_token = await first_step(client, email)
        for _ in range(5):
            assert_problem(
                await verify(client, mfa_token, code=wrong_code(enrolled.app)), 401, "invalid_code"
            )
        # Spent: the right code no longer helps this token; a new login does.
        assert_problem(await verify(client, mfa_token, code=enrolled.app.next_code()), 401, "invalid_code")
        assert (
            await verify(client, await first_step(client, email), code=enrolled.app.next_code())
        ).status_code == 200


async def test_the_mfa_token_is_single_use_short_lived_and_bound_to_the_address(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    mfa_token = await first_step(client, email)
    assert (await verify(client, mfa_token, code=enrolled.app.next_code())).status_code == 200
    assert_problem(await verify(client, mfa_token, code=enrolled.app.next_code()), 401, "invalid_code")

    mfa_token = await first_step(client, email)
    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.23", 40000)), base_url="http://shop.test"
    )
    async with elsewhere:
        assert_problem(await verify(elsewhere, mfa_token, code=enrolled.app.next_code()), 401, "invalid_code")
    assert (await verify(client, mfa_token, code=enrolled.app.next_code())).status_code == 200

    mfa_token = await first_step(client, email)
    async with app.state.database.sessions() as session:
        await session.execute(update(MfaChallenge).values(expires_at=text("now() - interval '1 second'")))
        await session.commit()
    assert_problem(await verify(client, mfa_token, code=enrolled.app.next_code()), 401, "invalid_code")


async def test_a_recovery_code_works_once(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    code = enrolled.recovery_codes[3]
    response = await verify(client, await first_step(client, email), recovery_code=code.upper())
    assert response.status_code == 200, response.text
    assert claims(response.json())["amr"] == ["pwd", "otp"]
    assert_problem(
        await verify(client, await first_step(client, email), recovery_code=code), 401, "invalid_code"
    )
    uid = (await client.get(ME, headers=bearer(pair))).json()["id"]
    used = await audit_events(app, uid, "recovery_code_use")
    assert len(used) == 1 and used[0].details == {"at": "mfa_verify", "left": 9}
    # A code and a recovery code at once, or neither, is a malformed request.
    both = await verify(client, "token", code="123456", recovery_code=code)
    assert_problem(both, 422, "validation_error")
    assert_problem(await verify(client, "token"), 422, "validation_error")


async def test_recovery_codes_are_replaced(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    url = f"{MFA}/recovery-codes"
    response = await client.post(
        url, json={"password": WRONG, "code": enrolled.app.next_code()}, headers=bearer(pair)
    )
    assert_problem(response, 400, "invalid_current_password")
    response = await client.post(
        url, json={"password": PASSWORD, "code": wrong_code(enrolled.app)}, headers=bearer(pair)
    )
    assert_problem(response, 400, "invalid_code")
    response = await client.post(
        url, json={"password": PASSWORD, "code": enrolled.app.next_code()}, headers=bearer(pair)
    )
    assert response.status_code == 200, response.text
    fresh = response.json()["recovery_codes"]
    assert len(fresh) == 10 and not set(fresh) & set(enrolled.recovery_codes)
    old = await verify(client, await first_step(client, email), recovery_code=enrolled.recovery_codes[0])
    assert_problem(old, 401, "invalid_code")
    new = await verify(client, await first_step(client, email), recovery_code=fresh[0])
    assert new.status_code == 200
    # A recovery code is accepted where a code is asked, once.
    response = await client.post(url, json={"password": PASSWORD, "code": fresh[1]}, headers=bearer(pair))
    assert response.status_code == 200


async def test_turning_two_step_sign_in_off(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    other = await login_two_step(client, email, enrolled.app)
    url = f"{MFA}/totp"
    response = await client.request(
        "DELETE", url, json={"password": PASSWORD, "code": "000000-x"}, headers=bearer(pair)
    )
    assert_problem(response, 400, "invalid_code")
    response = await client.request(
        "DELETE", url, json={"password": PASSWORD, "code": enrolled.recovery_codes[0]}, headers=bearer(pair)
    )
    assert response.status_code == 204, response.text
    assert (await client.get(ME, headers=bearer(pair))).json()["mfa_enabled"] is False
    assert_problem(await client.get(ME, headers=bearer(other)), 401, "token_revoked")
    assert "Two-step sign-in is off" in await mail_subjects(app, email)
    assert claims(await login(client, email))["amr"] == ["pwd"]
    response = await client.request(
        "DELETE", url, json={"password": PASSWORD, "code": "123456"}, headers=bearer(pair)
    )
    assert_problem(response, 404, "not_found")
    async with app.state.database.sessions() as session:
        left = await session.scalar(select(RecoveryCode).limit(1).where(RecoveryCode.code_hash.is_not(None)))
        assert left is None


# -- lockout at re-authentication (wrong passwords and codes count) -------------------------


@pytest.mark.parametrize("endpoint", ["change-password", "delete-me", "mfa-setup"])
async def test_wrong_current_passwords_lock_the_account(
    client: httpx.AsyncClient, app: Any, endpoint: str
) -> None:
    email, pair = await signed_in(client, app)

    async def attempt(password: str) -> httpx.Response:
        if endpoint == "change-password":
            new = "a brand new password 1"
            body = {"current_password": password, "new_password": new, "confirm_password": new}
            return await client.post("/api/v1/auth/change-password", json=body, headers=bearer(pair))
        if endpoint == "delete-me":
            return await client.request("DELETE", ME, json={"password": password}, headers=bearer(pair))
        return await setup(client, pair, password)

    for _ in range(4):
        assert_problem(await attempt(WRONG), 400, "invalid_current_password")
    assert_problem(await attempt(WRONG), 423, "account_locked")
    # While locked, the right password is refused here, and at login.
    refused = await attempt(PASSWORD)
    assert_problem(refused, 423, "account_locked")
    assert int(refused.headers["retry-after"]) >= 1
    login_refused = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert_problem(login_refused, 423, "account_locked")


async def test_wrong_codes_at_management_endpoints_lock_the_account(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    _, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    for attempt in range(5):
        body = {"password": PASSWORD, "code": wrong_code(enrolled.app)}
        if attempt % 2:
            response = await client.post(f"{MFA}/recovery-codes", json=body, headers=bearer(pair))
        else:
            response = await client.request("DELETE", f"{MFA}/totp", json=body, headers=bearer(pair))
        assert_problem(
            response, 423 if attempt == 4 else 400, "account_locked" if attempt == 4 else "invalid_code"
        )
    body = {"password": PASSWORD, "code": enrolled.app.next_code()}
    assert_problem(
        await client.post(f"{MFA}/recovery-codes", json=body, headers=bearer(pair)), 423, "account_locked"
    )
    assert_problem(
        await client.request("DELETE", f"{MFA}/totp", json=body, headers=bearer(pair)), 423, "account_locked"
    )


# -- passwords keep two-step sign-in --------------------------------------------------------


async def test_a_password_reset_by_mail_keeps_two_step_sign_in(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    pending = await first_step(client, email)
    assert (
        await client.post("/api/v1/auth/password-reset-request", json={"email": email})
    ).status_code == 202
    token = (await outbox_tokens(app, email, "reset-password"))[-1]
    new = "another fine password 2"
    response = await client.post(
        "/api/v1/auth/password-reset", json={"token": token, "password": new, "confirm_password": new}
    )
    assert response.status_code == 200
    # The mfa_token of before the reset is void; the new password still asks for a code.
    assert_problem(await verify(client, pending, code=enrolled.app.next_code()), 401, "invalid_code")
    mfa_token = await first_step(client, email, new)
    assert (await verify(client, mfa_token, code=enrolled.app.next_code())).status_code == 200


async def test_a_password_change_keeps_two_step_sign_in(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    new = "another fine password 3"
    body = {"current_password": PASSWORD, "new_password": new, "confirm_password": new}
    assert (
        await client.post("/api/v1/auth/change-password", json=body, headers=bearer(pair))
    ).status_code == 200
    assert (await client.get(ME, headers=bearer(pair))).json()["mfa_enabled"] is True
    assert (
        await verify(client, await first_step(client, email, new), code=enrolled.app.next_code())
    ).status_code == 200


# -- mails in the user's language -----------------------------------------------------------


async def test_mails_are_in_the_users_language(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email = await register(client)
    await client.post("/api/v1/auth/verify-email", json={"token": (await outbox_tokens(app, email))[-1]})
    pair = await login(client, email)
    profile = await client.patch("/api/v1/profile", json={"preferred_language": "es"}, headers=bearer(pair))
    assert profile.status_code == 200, profile.text
    enrolled = await enrol(client, pair, clock)
    body = {"password": PASSWORD, "code": enrolled.app.next_code()}
    assert (await client.request("DELETE", f"{MFA}/totp", json=body, headers=bearer(pair))).status_code == 204
    subjects = await mail_subjects(app, email)
    assert "El inicio de sesión en dos pasos está activado" in subjects
    assert "El inicio de sesión en dos pasos está desactivado" in subjects


# -- admins ---------------------------------------------------------------------------------


async def make_admin(app: Any, email: str) -> None:
    async with app.state.database.sessions() as session:
        await session.execute(update(User).where(User.email == email).values(role="admin"))
        await session.commit()


async def test_admin_routes_need_a_second_step_when_required(app_with: AppWith, clock: Clock) -> None:
    async with app_with(admin_mfa_required=True) as application, http_client(application) as client:
        admin_email, _ = await signed_in(client, application)
        await make_admin(application, admin_email)
        customer_email, customer = await signed_in(client, application)
        admin = await login(client, admin_email)
        assert_problem(await client.get("/api/v1/admin/users", headers=bearer(admin)), 403, "mfa_required")
        assert_problem(await client.get("/api/v1/admin/users", headers=bearer(customer)), 403, "forbidden")
        enrolled = await enrol(client, admin, clock)
        # The enrolling session itself was started with a password alone: still refused.
        assert_problem(await client.get("/api/v1/admin/users", headers=bearer(admin)), 403, "mfa_required")
        strong = await login_two_step(client, admin_email, enrolled.app)
        assert (await client.get("/api/v1/admin/users", headers=bearer(strong))).status_code == 200
        refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": strong["refresh_token"]})
        assert (await client.get("/api/v1/admin/users", headers=bearer(refreshed.json()))).status_code == 200
        assert customer_email


async def test_admin_routes_take_a_password_token_when_not_required(
    client: httpx.AsyncClient, app: Any
) -> None:
    assert app.state.settings.admin_needs_mfa is False
    email, _ = await signed_in(client, app)
    await make_admin(app, email)
    assert (
        await client.get("/api/v1/admin/users", headers=bearer(await login(client, email)))
    ).status_code == 200


def test_admin_mfa_is_required_by_default_in_production_only(database_url: str, tmp_path: Any) -> None:
    key = "a-production-secret-that-is-long-enough-0123456789"
    assert make_settings(database_url, tmp_path).admin_needs_mfa is False
    assert make_settings(database_url, tmp_path, environment="production", jwt_secret_key=key).admin_needs_mfa
    off = make_settings(
        database_url, tmp_path, environment="production", jwt_secret_key=key, admin_mfa_required=False
    )
    assert off.admin_needs_mfa is False


async def test_an_admin_turns_two_step_sign_in_off_for_a_user(
    client: httpx.AsyncClient, app: Any, clock: Clock
) -> None:
    email, pair = await signed_in(client, app)
    await enrol(client, pair, clock)
    admin_email, _ = await signed_in(client, app)
    await make_admin(app, admin_email)
    admin = await login(client, admin_email)
    user_id = (await client.get(ME, headers=bearer(pair))).json()["id"]
    url = f"/api/v1/admin/users/{user_id}/mfa"
    assert_problem(await client.delete(url, headers=bearer(pair)), 403, "forbidden")
    listed = await client.get("/api/v1/admin/users", params={"email": email}, headers=bearer(admin))
    assert listed.json()[0]["mfa_enabled"] is True
    assert (await client.delete(url, headers=bearer(admin))).status_code == 204
    assert (await client.get(ME, headers=bearer(pair))).json()["mfa_enabled"] is False
    assert claims(await login(client, email))["amr"] == ["pwd"]
    assert "Two-step sign-in was turned off by an administrator" in await mail_subjects(app, email)
    admin_id = (await client.get(ME, headers=bearer(admin))).json()["id"]
    (event,) = await audit_events(app, user_id, "mfa_admin_reset")
    assert event.details == {"by": admin_id}
    # Not on any more, or no such user: 404.
    assert_problem(await client.delete(url, headers=bearer(admin)), 404, "not_found")
    unknown = "/api/v1/admin/users/00000000-0000-4000-8000-000000000000/mfa"
    assert_problem(await client.delete(unknown, headers=bearer(admin)), 404, "not_found")


# -- audit and metrics ----------------------------------------------------------------------


async def test_outcomes_are_audited_and_counted(client: httpx.AsyncClient, app: Any, clock: Clock) -> None:
    email, pair = await signed_in(client, app)
    enrolled = await enrol(client, pair, clock)
    await verify(client, await first_step(client, email), code=wrong_code(enrolled.app))
    await verify(client, "unknown", code="123456")
    await login_two_step(client, email, enrolled.app)
    user_id = (await client.get(ME, headers=bearer(pair))).json()["id"]
    assert [e.outcome for e in await audit_events(app, user_id, "mfa_setup")] == ["success"]
    assert [e.outcome for e in await audit_events(app, user_id, "mfa_enable")] == ["success"]
    outcomes = [
        (e.outcome, (e.details or {}).get("reason")) for e in await audit_events(app, user_id, "mfa_verify")
    ]
    assert outcomes[0] == ("failure", "totp:wrong_code") and outcomes[-1][0] == "success"
    metrics = (await client.get("/metrics")).text
    for sample in (
        'shop_mfa_verifications_total{method="totp",outcome="success",step="verify"}',
        'shop_mfa_verifications_total{method="totp",outcome="wrong_code",step="verify"}',
        'shop_mfa_verifications_total{method="totp",outcome="unknown_token",step="verify"}',
        'shop_mfa_changes_total{change="enabled"}',
        'shop_logins_total{outcome="mfa_required"}',
    ):
        assert sample in metrics
