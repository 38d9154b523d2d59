"""The personal-data export: every part of the account, validated against docs/export.schema.json,
with no secret of any kind in it, downloaded as a file, three per hour per account."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from jsonschema import Draft202012Validator
from sqlalchemy import LargeBinary, select, text, update

from shop.auth.accounts.schemas import PersonalDataExport
from shop.auth.models import Session, User
from shop.auth.passkeys.repository import PasskeyRepository
from shop.auth.providers.repository import IdentityRepository
from shop.core.db import Base, Database
from tests.support.app import AppWith, http_client
from tests.support.auth import PASSWORD, bearer, login, new_email, register_verified
from tests.support.mfa import Clock, enrol
from tests.support.problems import assert_problem
from tests.support.self_service import AUTH, ask_email_change, outbox_change_tokens
from tests.support.users import ADDRESSES, PROFILE, address_body

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "export.schema.json"
EXPORT = f"{AUTH}/me/export"
# Columns that hold a secret in some form, besides every binary column (hashes, sealed secrets).
SECRET_COLUMNS = {"password_hash", "secret", "private_key"}


def schema_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def spellings(value: object) -> set[str]:
    """The ways a stored secret could show up in JSON text."""
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        return {
            raw.hex(),
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        }
    return {str(value)}


async def stored_secrets(database: Database) -> set[str]:
    """The value of every secret column of every table, read from the database."""
    found: set[str] = set()
    async with database.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, LargeBinary) or column.name in SECRET_COLUMNS:
                    for value in (await session.scalars(select(column).where(column.is_not(None)))).all():
                        found |= spellings(value)
    return found


AAGUID = uuid.UUID("08987058-cadc-4b81-b6e1-30de50dcbe96")


async def hold_a_passkey_and_an_identity(database: Database, user_id: uuid.UUID, email: str) -> None:
    """A passkey and a linked identity, stored as their capabilities store them."""
    async with database.sessions() as session:
        await PasskeyRepository(session).add(
            user_id=user_id,
            credential_id=b"credential-id-of-the-export-test",
            public_key=b"public-key-of-the-export-test",
            sign_count=0,
            transports=["internal"],
            backup_eligible=True,
            backed_up=True,
            aaguid=AAGUID,
            name="Laptop",
        )
        await IdentityRepository(session).add(user_id, "google", "sub-1", email)
        await session.commit()


async def export(client: httpx.AsyncClient, pair: dict[str, Any], password: str = PASSWORD) -> httpx.Response:
    return await client.post(EXPORT, json={"password": password}, headers=bearer(pair))


async def test_the_export_holds_every_part_and_no_secret(app_with: AppWith, clock: Clock) -> None:
    async with app_with() as app, http_client(app) as client:
        email = await register_verified(client, app)
        older = await login(client, email)
        wrong = await client.post(f"{AUTH}/login", json={"email": email, "password": "not the password"})
        assert_problem(wrong, 401, "invalid_credentials")
        pair = await login(client, email)
        names = {"first_name": "Grace", "last_name": "Hopper", "phone": "+442079460958"}
        assert (await client.patch(PROFILE, json=names, headers=bearer(pair))).status_code == 200
        added = await client.post(ADDRESSES, json=address_body(city="Arlington"), headers=bearer(pair))
        assert added.status_code == 201, added.text
        enrolled = await enrol(client, pair, clock)  # signs the older session out
        wanted = new_email()
        assert (await ask_email_change(client, pair, wanted)).status_code == 202

        user_id = pair["user"]["id"]
        await hold_a_passkey_and_an_identity(app.state.database, uuid.UUID(user_id), email)

        response = await export(client, pair)
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"] == f'attachment; filename="shop-export-{user_id}.json"'
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store"
        document = response.json()
        schema_validator().validate(document)

        assert document["account"]["id"] == user_id and document["account"]["email"] == email
        assert document["account"]["mfa_enabled"] is True
        assert {key: document["profile"][key] for key in names} == names
        assert [address["city"] for address in document["addresses"]] == ["Arlington"]
        current = jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
        assert [item["id"] for item in document["sessions"] if item["current"]] == [current]
        # The older session, signed out when two-step sign-in came on, is still held: it is there too.
        assert [item["revoked_reason"] for item in document["sessions"] if not item["current"]] == [
            "mfa_enabled"
        ]
        assert all(item["ip"] == "203.0.113.7" for item in document["sessions"])
        assert document["mfa"] == {"enabled": True, "recovery_codes_left": 10}
        events = [(item["event"], item["outcome"]) for item in document["audit_events"]]
        assert {
            ("register", "success"),
            ("login", "failure"),
            ("login", "success"),
            ("mfa_enable", "success"),
            ("email_change_request", "success"),
            ("personal_data_export", "success"),
        } <= set(events)
        (change,) = document["email_changes"]
        assert (change["old_email"], change["new_email"], change["status"]) == (email, wanted, "pending")
        subjects = [(mail["to"], mail["subject"]) for mail in document["mail"]]
        assert (email, "Confirm your email address") in subjects
        assert (email, "Two-step sign-in is on") in subjects
        assert (wanted, "Confirm your new email address") in subjects
        # As GET /passkeys and GET /identities show them (their hashes and keys are in `secrets`).
        (passkey,) = document["passkeys"]
        assert (passkey["name"], passkey["transports"], passkey["aaguid"]) == (
            "Laptop",
            ["internal"],
            str(AAGUID),
        )
        assert passkey == (await client.get(f"{AUTH}/passkeys", headers=bearer(pair))).json()[0]
        (identity,) = document["identities"]
        assert (identity["provider"], identity["subject"], identity["email"]) == ("google", "sub-1", email)
        assert identity == (await client.get(f"{AUTH}/identities", headers=bearer(pair))).json()[0]

        # No secret of any kind: neither what the database holds nor what the user was shown.
        body = response.text
        secrets = await stored_secrets(app.state.database)
        assert len(secrets) >= 10  # a password hash, refresh tokens, recovery codes, a TOTP secret, …
        secrets |= {
            enrolled.setup["secret"],
            *enrolled.recovery_codes,
            *await outbox_change_tokens(app, wanted),
        }
        secrets |= {older["refresh_token"], pair["refresh_token"], pair["access_token"]}
        leaked = sorted(secret for secret in secrets if secret in body)
        assert leaked == []


async def test_the_export_needs_the_password_and_a_wrong_one_counts(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    assert_problem(await export(client, pair, "not the password"), 400, "invalid_current_password")
    async with app.state.database.sessions() as session:
        count = await session.scalar(
            text("SELECT failed_login_count FROM auth.users WHERE id = :u"), {"u": pair["user"]["id"]}
        )
    assert count == 1
    assert_problem(await client.post(EXPORT, json={"password": PASSWORD}), 401, "not_authenticated")
    assert_problem(await client.post(EXPORT, json={}, headers=bearer(pair)), 422, "validation_error")


async def test_three_exports_per_hour_per_account(app_with: AppWith) -> None:
    async with app_with(rate_limit_enabled=True) as app, http_client(app) as client:
        pair = await login(client, await register_verified(client, app))
        for _ in range(3):
            assert (await export(client, pair)).status_code == 200
        limited = await export(client, pair)
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) > 0


def test_the_documented_example_follows_the_schema() -> None:
    """The OpenAPI document's example of the export and docs/export.schema.json say the same."""
    schema_validator().validate(PersonalDataExport.model_json_schema()["examples"][0])


async def test_the_export_names_both_addresses_of_a_change_but_not_the_mail_of_others(
    client: httpx.AsyncClient, app: Any
) -> None:
    old = await register_verified(client, app)
    pair = await login(client, old)
    new, later = new_email(), new_email()
    assert (await ask_email_change(client, pair, new)).status_code == 202
    (token,) = await outbox_change_tokens(app, new)
    assert (await client.post(f"{AUTH}/email-change/confirm", json={"token": token})).status_code == 200
    assert (await ask_email_change(client, pair, later)).status_code == 202
    # The old address is free again: whoever registers it next owns it, and its mail.
    await register_verified(client, app, old)

    document = (await export(client, pair)).json()
    schema_validator().validate(document)
    assert document["account"]["email"] == new
    statuses = [(c["old_email"], c["new_email"], c["status"]) for c in document["email_changes"]]
    assert statuses == [(old, new, "confirmed"), (new, later, "pending")]
    recipients = {mail["to"] for mail in document["mail"]}
    assert recipients == {new, later}


async def test_an_account_without_a_password_exports_only_soon_after_signing_in(
    client: httpx.AsyncClient, app: Any
) -> None:
    """As a provider-made account: no password member, accepted within REAUTH_MAX_AGE_SECONDS of the
    session's sign-in, then 403 reauthentication_required."""
    email = await register_verified(client, app)
    pair = await login(client, email)
    session_id = jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
    async with app.state.database.sessions() as session:
        await session.execute(update(User).where(User.email == email).values(password_hash=None))
        await session.commit()
    fresh = await client.post(EXPORT, json={}, headers=bearer(pair))
    assert fresh.status_code == 200, fresh.text
    async with app.state.database.sessions() as session:
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        await session.execute(
            update(Session).where(Session.id == uuid.UUID(session_id)).values(created_at=hour_ago)
        )
        await session.commit()
    assert_problem(await client.post(EXPORT, json={}, headers=bearer(pair)), 403, "reauthentication_required")


async def test_an_account_without_a_password_asks_an_email_change_only_soon_after_signing_in(
    client: httpx.AsyncClient, app: Any
) -> None:
    email = await register_verified(client, app)
    pair = await login(client, email)
    session_id = jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
    async with app.state.database.sessions() as session:
        await session.execute(update(User).where(User.email == email).values(password_hash=None))
        await session.commit()
    asked = await client.post(f"{AUTH}/email-change", json={"new_email": new_email()}, headers=bearer(pair))
    assert asked.status_code == 202, asked.text
    async with app.state.database.sessions() as session:
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        await session.execute(
            update(Session).where(Session.id == uuid.UUID(session_id)).values(created_at=hour_ago)
        )
        await session.commit()
    late = await client.post(f"{AUTH}/email-change", json={"new_email": new_email()}, headers=bearer(pair))
    assert_problem(late, 403, "reauthentication_required")
