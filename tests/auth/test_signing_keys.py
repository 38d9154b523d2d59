"""Signing keys at the service level: generation, sealing, rotation, pruning, the lock across
instances, and the key ring each instance keeps."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shop.auth.errors import KeyRotationUnavailable, SigningKeysSealedElsewhere
from shop.auth.keys.material import key_box, load_private_pem, new_key, public_jwk
from shop.auth.keys.repository import SigningKeyRepository
from shop.auth.keys.service import SigningKeyService
from shop.auth.keys.tokens import (
    RELOAD_SECONDS,
    AccessTokenCodec,
    KeyRing,
    NoSigningKey,
    retired_key_lifetime,
)
from shop.auth.models import AuditEvent, SigningKey
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.errors import TokenExpired, TokenInvalid
from shop.core.secretbox import SecretBoxError
from tests.support.app import make_settings

ALGORITHMS = ["EdDSA", "ES256", "RS256"]


def settings_for(database_url: str, tmp_path: Path, algorithm: str, **extra: Any) -> Settings:
    return make_settings(database_url, tmp_path, jwt_algorithm=algorithm, **extra)


async def states(db: Database) -> dict[str, list[str]]:
    async with db.sessions() as session, session.begin():
        keys = await SigningKeyRepository(session).list_all()
    found: dict[str, list[str]] = {"next": [], "active": [], "retired": []}
    for key in keys:
        found[key.state].append(key.kid)
    return found


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_public_jwk_has_public_parameters_only_and_a_thumbprint_kid(algorithm: str) -> None:
    box = key_box("root-" + "x" * 40)
    key = new_key(algorithm, box)
    jwk = key.public_jwk
    expected = {"EdDSA": {"crv", "x"}, "ES256": {"crv", "x", "y"}, "RS256": {"n", "e"}}[algorithm]
    assert set(jwk) == {"kid", "kty", "alg", "use"} | expected
    assert jwk["alg"] == algorithm and jwk["use"] == "sig"
    assert "d" not in jwk and "p" not in jwk
    # RFC 7638: the kid is the SHA-256 thumbprint of the required members.
    required = {name: jwk[name] for name in sorted(expected | {"kty"})}
    digest = hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode()).digest()
    assert key.kid == jwk["kid"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    # The private half is sealed: not PEM, and it opens only under the same root secret.
    assert b"PRIVATE KEY" not in key.sealed_private_key
    private = load_private_pem(box.open(key.sealed_private_key))
    assert public_jwk(private.public_key(), algorithm) == jwk
    assert isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    with pytest.raises(SecretBoxError):
        key_box("another-" + "y" * 40).open(key.sealed_private_key)


async def test_first_start_makes_one_active_and_one_next_key(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path, "EdDSA")
    for _ in range(2):  # a second start changes nothing
        async with db.sessions() as session, session.begin():
            await SigningKeyService(session, settings).ensure()
    found = await states(db)
    assert len(found["active"]) == 1 and len(found["next"]) == 1 and found["retired"] == []
    async with db.sessions() as session, session.begin():
        stored = await session.scalars(select(SigningKey))
        for key in stored:
            assert key.alg == "EdDSA"
            assert b"PRIVATE" not in key.private_key
            assert set(key.public_jwk) == {"kid", "kty", "crv", "x", "alg", "use"}


async def test_hs256_keeps_no_keys_and_refuses_rotation(db: Database, settings: Settings) -> None:
    async with db.sessions() as session, session.begin():
        service = SigningKeyService(session, settings)
        await service.ensure()
        assert await service.listing() == []
        with pytest.raises(KeyRotationUnavailable):
            await service.rotate()
    assert await states(db) == {"next": [], "active": [], "retired": []}


async def test_rotation_promotes_next_retires_active_and_makes_a_new_next(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path, "ES256")
    async with db.sessions() as session, session.begin():
        await SigningKeyService(session, settings).ensure()
    before = await states(db)
    async with db.sessions() as session, session.begin():
        actor = uuid.uuid4()
        listing = await SigningKeyService(session, settings).rotate(actor=actor)
        assert [k.state for k in listing] == ["next", "active", "retired"]
        audit = await session.scalar(select(AuditEvent).where(AuditEvent.event == "signing_key_rotated"))
        assert audit is not None and audit.user_id == actor
        assert audit.details is not None and audit.details["retired"] == before["active"][0]
    after = await states(db)
    assert after["active"] == before["next"]
    assert after["retired"] == before["active"]
    assert after["next"] != before["next"] and len(after["next"]) == 1


async def test_a_changed_algorithm_retires_the_old_active_key(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    async with db.sessions() as session, session.begin():
        await SigningKeyService(session, settings_for(database_url, tmp_path, "EdDSA")).ensure()
    before = await states(db)
    async with db.sessions() as session, session.begin():
        await SigningKeyService(session, settings_for(database_url, tmp_path, "RS256")).ensure()
        keys = {k.kid: k for k in await SigningKeyRepository(session).list_all()}
    after = await states(db)
    assert after["retired"] == before["active"]  # its tokens stay valid until they expire
    assert before["next"][0] not in keys  # a next key that never signed is simply dropped
    assert keys[after["active"][0]].alg == "RS256" and keys[after["next"][0]].alg == "RS256"


async def test_retired_keys_are_pruned_once_their_tokens_have_expired(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path, "EdDSA", access_token_ttl_seconds=60)
    async with db.sessions() as session, session.begin():
        service = SigningKeyService(session, settings)
        await service.ensure()
        await service.rotate()
        await service.rotate()
    found = await states(db)
    assert len(found["retired"]) == 2
    lifetime = retired_key_lifetime(60)
    young, old = found["retired"]
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old)
            .values(retired_at=func.now() - lifetime - timedelta(seconds=1))
        )
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid == young)
            .values(retired_at=func.now() - lifetime + timedelta(seconds=30))
        )
        assert await SigningKeyService(session, settings).prune() == [old]
    assert (await states(db))["retired"] == [young]


async def test_keys_sealed_under_another_secret_are_refused_until_a_rotation_with_new_secret(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """JWT_SECRET_KEY changed: start-up and a plain rotation refuse, naming the cause and changing
    nothing; `rotate(new_secret=True)` makes a key the new secret opens, and the old active key,
    retired, still verifies the tokens it signed."""
    old = settings_for(database_url, tmp_path, "EdDSA")
    new_secret = "the-new-root-secret-" + "n" * 40
    new = settings_for(database_url, tmp_path, "EdDSA", jwt_secret_key=new_secret)
    old_ring = KeyRing("EdDSA", old.signing_key(), 3600)
    old_codec = AccessTokenCodec(old_ring, issuer="i", audience="a", ttl_seconds=60)
    new_ring = KeyRing("EdDSA", new.signing_key(), 3600)
    new_codec = AccessTokenCodec(new_ring, issuer="i", audience="a", ttl_seconds=60)
    async with db.sessions() as session, session.begin():
        await SigningKeyService(session, old).ensure()

        def load() -> Any:
            return SigningKeyRepository(session).list_all()

        before = await states(db)
        token = (await old_codec.issue(load, uuid.uuid4(), uuid.uuid4())).token
        service = SigningKeyService(session, new)
        for attempt in (service.ensure, service.rotate, service.check_sealed):
            with pytest.raises(SigningKeysSealedElsewhere) as refused:
                await attempt()
            assert set(refused.value.kids) == {*before["next"], *before["active"]}
            assert "JWT_SECRET_KEY does not open" in str(refused.value)
            assert "shop keys rotate --new-secret" in str(refused.value) and "\n" not in str(refused.value)
        assert await states(db) == before
        # An instance still holding the new secret's ring verifies, but cannot sign.
        assert (await new_codec.decode(load, token)).claims["aud"] == "a"
        assert (await new_ring.current(load)).signer is None

        listing = await service.rotate(new_secret=True)
        after = await states(db)
        assert after["retired"] == before["active"]
        assert before["next"][0] not in {k.kid for k in listing}  # never signed: dropped
        await service.check_sealed()  # the new secret opens the keys that sign now
        new_ring.invalidate()
        fresh = (await new_codec.issue(load, uuid.uuid4(), uuid.uuid4())).token
        assert jwt.get_unverified_header(fresh)["kid"] == after["active"][0]
        # The token signed before the change stays valid until it expires.
        assert (await new_codec.decode(load, token)).claims["aud"] == "a"
        await SigningKeyService(session, new).ensure()  # the next start is fine

        audit = await session.scalar(
            select(AuditEvent).where(AuditEvent.event == "signing_key_rotated").order_by(AuditEvent.id.desc())
        )
        assert audit is not None and audit.details is not None and audit.details["reason"] == "new_secret"

        # An instance still running on the old secret: it cannot sign (503, never a 500), and its
        # scheduled rotation does not replace the new secret's keys by keys only it can open.
        old_ring.invalidate()
        with pytest.raises(NoSigningKey) as unavailable:
            await old_codec.issue(load, uuid.uuid4(), uuid.uuid4())
        assert (unavailable.value.status, unavailable.value.code) == (503, "service_unavailable")
        await session.execute(
            update(SigningKey)
            .where(SigningKey.state == "active")
            .values(activated_at=func.now() - timedelta(days=2))
        )
        kept = await states(db)
        due = {"jwt_key_rotation_days": 1}
        assert (
            await SigningKeyService(session, settings_for(database_url, tmp_path, "EdDSA", **due)).maintain()
            is False
        )
        assert await states(db) == kept
        on_new = settings_for(database_url, tmp_path, "EdDSA", jwt_secret_key=new_secret, **due)
        assert await SigningKeyService(session, on_new).maintain()  # an instance on the new secret does


@pytest.fixture
async def clean_keys(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE auth.signing_keys"))
        await connection.execute(text("DELETE FROM auth.audit_events WHERE event = 'signing_key_rotated'"))


async def test_concurrent_rotations_never_leave_two_active_keys(
    engine: AsyncEngine, database_url: str, tmp_path: Path, clean_keys: None
) -> None:
    """Five instances rotating at the same moment: five rotations, one after another."""
    settings = settings_for(database_url, tmp_path, "EdDSA")
    database = Database(engine)
    async with database.sessions() as session, session.begin():
        await SigningKeyService(session, settings).ensure()

    async def rotate() -> None:
        async with database.sessions() as session, session.begin():
            await SigningKeyService(session, settings).rotate()

    await asyncio.gather(*(rotate() for _ in range(5)))
    found = await states(database)
    assert len(found["active"]) == 1 and len(found["next"]) == 1 and len(found["retired"]) == 5


async def test_scheduled_rotation_happens_once_however_many_instances_run(
    engine: AsyncEngine, database_url: str, tmp_path: Path, clean_keys: None
) -> None:
    settings = settings_for(database_url, tmp_path, "EdDSA", jwt_key_rotation_days=1)
    database = Database(engine)
    async with database.sessions() as session, session.begin():
        service = SigningKeyService(session, settings)
        await service.ensure()
        assert await service.maintain() is False  # not due yet
        await session.execute(
            update(SigningKey)
            .where(SigningKey.state == "active")
            .values(activated_at=func.now() - timedelta(days=1, seconds=1))
        )
    before = await states(database)

    async def maintain() -> bool:
        async with database.sessions() as session, session.begin():
            return await SigningKeyService(session, settings).maintain()

    results = await asyncio.gather(*(maintain() for _ in range(6)))
    assert results.count(True) == 1
    after = await states(database)
    assert after["active"] == before["next"] and after["retired"] == before["active"]
    # Once rotated, the period starts again: no instance rotates a second time.
    assert not any(await asyncio.gather(*(maintain() for _ in range(3))))


async def test_manual_rotation_only_without_jwt_key_rotation_days(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path, "EdDSA")
    async with db.sessions() as session, session.begin():
        service = SigningKeyService(session, settings)
        await service.ensure()
        await session.execute(
            update(SigningKey)
            .where(SigningKey.state == "active")
            .values(activated_at=func.now() - timedelta(days=3650))
        )
        assert await service.maintain() is False
    assert (await states(db))["retired"] == []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_key_ring_signs_with_a_new_active_key_after_its_reload_interval(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path, "EdDSA")
    clock = Clock()
    ring = KeyRing("EdDSA", settings.signing_key(), settings.access_token_ttl_seconds, clock=clock)
    codec = AccessTokenCodec(ring, issuer=settings.issuer, audience="shop", ttl_seconds=3600)
    user, sid = uuid.uuid4(), uuid.uuid4()
    async with db.sessions() as session, session.begin():
        await SigningKeyService(session, settings).ensure()

        def load() -> Any:
            return SigningKeyRepository(session).list_all()

        first = await codec.issue(load, user, sid)
        old_kid = jwt.get_unverified_header(first.token)["kid"]
        await SigningKeyService(session, settings).rotate()
        clock.now += RELOAD_SECONDS - 0.5
        assert jwt.get_unverified_header((await codec.issue(load, user, sid)).token)["kid"] == old_kid
        clock.now += 0.5  # RELOAD_SECONDS (5 s, within API.md's 10 s) after the last load
        new_kid = jwt.get_unverified_header((await codec.issue(load, user, sid)).token)["kid"]
        assert new_kid != old_kid
        # The token of the retired key still verifies, and so does the new one.
        assert (await codec.decode(load, first.token)).user_id == user
        claims = await codec.decode(load, (await codec.issue(load, user, sid, amr=["pwd"])).token)
        assert claims.claims["iss"] == "http://shop.test" and claims.claims["aud"] == "shop"


async def test_key_ring_reloads_on_an_unknown_kid_at_most_once_a_second(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """Another instance rotated twice: its token names a key this instance has never seen."""
    settings = settings_for(database_url, tmp_path, "EdDSA")
    clock = Clock()
    ring = KeyRing("EdDSA", settings.signing_key(), 3600, clock=clock)
    other = KeyRing("EdDSA", settings.signing_key(), 3600, clock=clock)
    codec = AccessTokenCodec(ring, issuer="i", audience="a", ttl_seconds=60)
    other_codec = AccessTokenCodec(other, issuer="i", audience="a", ttl_seconds=60)
    loads = 0
    async with db.sessions() as session, session.begin():
        await SigningKeyService(session, settings).ensure()

        def load() -> Any:
            nonlocal loads
            loads += 1
            return SigningKeyRepository(session).list_all()

        await codec.issue(load, uuid.uuid4(), uuid.uuid4())
        await SigningKeyService(session, settings).rotate()
        await SigningKeyService(session, settings).rotate()
        token = (await other_codec.issue(load, uuid.uuid4(), uuid.uuid4())).token
        loads = 0
        assert (await codec.decode(load, token)).claims["aud"] == "a"
        assert loads == 1
        junk = jwt.encode({"x": 1}, "k" * 32, algorithm="HS256", headers={"kid": "no-such-key"})
        for _ in range(3):
            with pytest.raises(TokenInvalid):
                await codec.decode(load, junk)
        assert loads == 1  # the reload a moment ago is recent enough: junk makes no database load
        clock.now += 1
        with pytest.raises(TokenInvalid):
            await codec.decode(load, junk)
        assert loads == 2


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_codec_refuses_forgeries(
    db: Database, database_url: str, tmp_path: Path, algorithm: str
) -> None:
    settings = settings_for(database_url, tmp_path, algorithm)
    ring = KeyRing(algorithm, settings.signing_key(), 3600)
    codec = AccessTokenCodec(ring, issuer="https://id.example", audience="shop", ttl_seconds=60)
    async with db.sessions() as session, session.begin():
        await SigningKeyService(session, settings).ensure()

        def load() -> Any:
            return SigningKeyRepository(session).list_all()

        good = (await codec.issue(load, uuid.uuid4(), uuid.uuid4())).token
        keys = await ring.current(load)
        assert keys.signer is not None
        signer = keys.signer
        claims = jwt.decode(good, options={"verify_signature": False})
        kid = signer.kid
        public_pem = signer.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        other_key = new_key(algorithm, key_box("z" * 40))
        other_private = load_private_pem(key_box("z" * 40).open(other_key.sealed_private_key))
        forgeries = {
            "wrong key": jwt.encode(claims, other_private, algorithm=algorithm, headers={"kid": kid}),
            "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
            "HS256 with the public key": _hs256_with(claims, public_pem, kid),
            "wrong iss": jwt.encode(
                claims | {"iss": "https://evil"}, signer.key, algorithm=algorithm, headers={"kid": kid}
            ),
            "wrong aud": jwt.encode(
                claims | {"aud": "orders"}, signer.key, algorithm=algorithm, headers={"kid": kid}
            ),
            "aud list": jwt.encode(
                claims | {"aud": ["shop", "x"]}, signer.key, algorithm=algorithm, headers={"kid": kid}
            ),
            "no iss": jwt.encode(
                {k: v for k, v in claims.items() if k != "iss"},
                signer.key,
                algorithm=algorithm,
                headers={"kid": kid},
            ),
            "no kid": jwt.encode(claims, signer.key, algorithm=algorithm),
            "refresh type": jwt.encode(
                claims | {"type": "refresh"}, signer.key, algorithm=algorithm, headers={"kid": kid}
            ),
        }
        assert (await codec.decode(load, good)).claims["jti"] == claims["jti"]
        for name, forged in forgeries.items():
            with pytest.raises(TokenInvalid):
                await codec.decode(load, forged)
                pytest.fail(name)
        expired = jwt.encode(
            claims | {"exp": claims["iat"] - 10}, signer.key, algorithm=algorithm, headers={"kid": kid}
        )
        with pytest.raises(TokenExpired):
            await codec.decode(load, expired)


def _hs256_with(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """The classic confusion attack: HMAC keyed with the public key's PEM. PyJWT refuses to *make*
    one (it spots the PEM), so the token is put together by hand."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = b64(hmac.new(secret, header + b"." + payload, hashlib.sha256).digest())
    return (header + b"." + payload + b"." + signature).decode()
