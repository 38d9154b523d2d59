"""Tokens that other services verify, proven with a real verifier: a separate process
(tests/e2e/jwt_verifier.py, PyJWT's PyJWKClient) that knows only shop's jwks_uri, issuer and
audience, against real `shop serve` processes — one, then two sharing one database — while keys
rotate under a load of several hundred verifications a second."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shop.auth.keys.material import key_box, load_private_pem
from tests.support.databases import temporary_database
from tests.support.net import EXIT_SECONDS, STARTUP_SECONDS, free_port
from tests.support.serve import ShopServer, shop_env
from tests.support.waiting import answering, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = Path(__file__).with_name("jwt_verifier.py")
SECRET = "e2e-jwks-root-secret-" + "q" * 32
PASSWORD = "correct horse battery staple"
ADMIN = "keys-admin@example.com"
AUDIENCE = "shop"
TTL = 600
# The load: at least this many checks at the verifier, the key rotated twice on the way, and the
# load going on for this many checks after the last rotation.
CHECKS = 3000
ROTATE_AT = (1000, 2000)
CHECKS_AFTER_LAST_ROTATION = 3000
MINTERS = 6
CHECKERS = 8
# The checkers offer this many checks a second between them (a steady load, not a flood: shop's
# own processes and a second test worker share the machine's cores); a busy machine gives fewer.
CHECKS_PER_SECOND = 600
MINT_PAUSE_SECONDS = 0.2
# Rotations by hand come minutes apart; here they come as soon as this allows: past the verifier's
# unknown-kid cooldown (5 s) and every instance's key reload (5 s), so the second rotation's key —
# made by the first and never fetched by the verifier — is found by the verifier's own refetch.
ROTATION_SPACING_SECONDS = 11
LOAD_DEADLINE_SECONDS = 240


# --- processes --------------------------------------------------------------------------------------


@pytest.fixture
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A database of its own: shop serve migrates it, and nothing else in the suite writes to it."""
    async with temporary_database(server_url, "shop_jwks") as url:
        yield url


def settings(database_url: str) -> dict[str, str]:
    """The settings of this file's shop processes, on `database_url`."""
    return {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": SECRET,
        "ACCESS_TOKEN_TTL_SECONDS": str(TTL),
        "RATE_LIMIT_ENABLED": "false",
    }


class Processes:
    """Every process a test starts, each stopped at the end, whatever happened."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[subprocess.Popen[bytes]] = []

    def shop(self, database_url: str, name: str, **extra: str) -> ShopServer:
        server = ShopServer(self.workdir / name, **{**settings(database_url), **extra})
        server.env.setdefault("PUBLIC_URL", server.url)
        server.start_ready()
        assert server.process is not None
        self.started.append(server.process)
        return server

    def verifier(self, jwks_uri: str, issuer: str) -> str:
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                str(VERIFIER),
                "--port",
                str(port),
                "--jwks-uri",
                jwks_uri,
                "--issuer",
                issuer,
                "--audience",
                AUDIENCE,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_until(answering(f"{base}/stats", process), f"the verifier answers at {base}", STARTUP_SECONDS)
        return base

    def stop(self, shop: ShopServer) -> None:
        shop.stop()

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def cli(
    database_url: str, workdir: Path, *args: str, stdin: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shop", *args],
        env=shop_env(workdir / "cli", **{**settings(database_url), **extra}),
        cwd=workdir,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=EXIT_SECONDS,
        check=False,
    )


def create_admin(database_url: str, workdir: Path) -> None:
    done = cli(database_url, workdir, "create-admin", ADMIN, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr


async def login(client: httpx.AsyncClient, base: str) -> dict[str, Any]:
    response = await client.post(f"{base}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def active_key(database_url: str) -> tuple[str, str, Any]:
    """(kid, alg, private key) of the active key, opened as only a holder of JWT_SECRET_KEY can."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text("SELECT kid, alg, private_key FROM auth.signing_keys WHERE state = 'active'")
                )
            ).one()
    finally:
        await engine.dispose()
    return row.kid, row.alg, load_private_pem(key_box(SECRET).open(row.private_key))


# --- the verifier: tokens verify, forgeries do not ------------------------------------------------


def _hs256_with_public_key(claims: dict[str, Any], public_pem: bytes, kid: str) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        + b"."
        + b64(json.dumps(claims).encode())
    )
    return (signing_input + b"." + b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())).decode()


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
async def test_a_separate_service_verifies_shop_tokens_and_refuses_forgeries(
    fresh_database: str, processes: Processes, tmp_path: Path, algorithm: str
) -> None:
    from cryptography.hazmat.primitives import serialization

    shop = processes.shop(fresh_database, "shop", JWT_ALGORITHM=algorithm)
    create_admin(fresh_database, tmp_path)
    async with httpx.AsyncClient(timeout=30) as client:
        metadata = (await client.get(f"{shop.url}/.well-known/oauth-authorization-server")).json()
        assert metadata["issuer"] == shop.url
        verifier = processes.verifier(metadata["jwks_uri"], metadata["issuer"])

        pair = await login(client, shop.url)
        token = pair["access_token"]
        good = await client.get(f"{verifier}/verify", headers={"Authorization": f"Bearer {token}"})
        assert good.status_code == 200, good.text
        assert good.json() == {"sub": pair["user"]["id"], "kid": kid_of(token), "alg": algorithm}

        kid, alg, private_key = await active_key(fresh_database)
        assert kid == kid_of(token) and alg == algorithm
        claims = jwt.decode(token, options={"verify_signature": False})
        now = int(time.time())
        stranger = {"EdDSA": "ES256", "ES256": "RS256", "RS256": "EdDSA"}[algorithm]
        from shop.auth.keys.material import generate_private_key

        other_key = generate_private_key(algorithm)
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

        def signed(changes: dict[str, Any], key: Any = private_key, alg: str = algorithm) -> str:
            return jwt.encode(claims | changes, key, algorithm=alg, headers={"kid": kid})

        forgeries = {
            "wrong key": (signed({}, other_key), "InvalidSignatureError"),
            "another algorithm's key": (
                signed({}, generate_private_key(stranger), stranger),
                "InvalidAlgorithmError",
            ),
            "alg none": (
                jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
                "InvalidAlgorithmError",
            ),
            "HS256 signed with the public key": (
                _hs256_with_public_key(claims, public_pem, kid),
                "InvalidAlgorithmError",
            ),
            "wrong iss": (signed({"iss": "https://evil.example"}), "InvalidIssuerError"),
            "wrong aud": (signed({"aud": "orders"}), "InvalidAudienceError"),
            "expired": (signed({"iat": now - 2 * TTL, "exp": now - TTL}), "ExpiredSignatureError"),
            "unknown kid": (
                jwt.encode(claims, other_key, algorithm=algorithm, headers={"kid": "not-a-shop-key"}),
                "PyJWKClientError",
            ),
        }
        for name, (forged, error) in forgeries.items():
            refused = await client.get(f"{verifier}/verify", headers={"Authorization": f"Bearer {forged}"})
            assert refused.status_code == 401, name
            assert refused.json()["error"] == error, (name, refused.json())
            # shop itself refuses the same tokens.
            at_shop = await client.get(
                f"{shop.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}
            )
            expected = "token_expired" if name == "expired" else "token_invalid"
            assert at_shop.status_code == 401 and at_shop.json()["code"] == expected, (name, at_shop.text)
        # The real token still passes both.
        me = await client.get(f"{shop.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200


# --- a changed JWT_SECRET_KEY ---------------------------------------------------------------------------


def one_line_refusal(done: subprocess.CompletedProcess[str]) -> str:
    """A refusal an operator reads at a glance: exit 1, one line on stderr, no traceback anywhere."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("shop: JWT_SECRET_KEY does not open the signing keys stored in the database")
    assert "shop keys rotate --new-secret" in lines[0]
    return lines[0]


async def test_a_changed_jwt_secret_key_is_refused_in_one_line_until_a_rotation_with_new_secret(
    fresh_database: str, processes: Processes, tmp_path: Path
) -> None:
    issuer = "http://shop.example"
    shop = processes.shop(fresh_database, "shop", JWT_ALGORITHM="EdDSA", JWT_ISSUER=issuer)
    create_admin(fresh_database, tmp_path)
    async with httpx.AsyncClient(timeout=30) as client:
        old_token = (await login(client, shop.url))["access_token"]
    processes.stop(shop)

    changed = {
        "JWT_ALGORITHM": "EdDSA",
        "JWT_ISSUER": issuer,
        "JWT_SECRET_KEY": "a-changed-root-secret-" + "c" * 32,
    }
    listed_before = cli(fresh_database, tmp_path, "keys", "list", JWT_ALGORITHM="EdDSA").stdout
    # `shop serve` refuses before it serves (a serve that started would outlive the CLI timeout).
    refused = cli(fresh_database, tmp_path, "serve", "--port", str(free_port()), **changed)
    kids = [line.split()[0] for line in listed_before.splitlines()]
    assert all(kid in one_line_refusal(refused) for kid in kids)
    # `shop keys list` still lists, and says what is wrong; a plain rotation changes nothing.
    listed = cli(fresh_database, tmp_path, "keys", "list", **changed)
    one_line_refusal(listed)
    assert listed.stdout == listed_before
    one_line_refusal(cli(fresh_database, tmp_path, "keys", "rotate", **changed))
    assert cli(fresh_database, tmp_path, "keys", "list", JWT_ALGORITHM="EdDSA").stdout == listed_before

    # Changing the secret on purpose: a new key signs; the old one retires and still verifies.
    rotated = cli(fresh_database, tmp_path, "keys", "rotate", "--new-secret", **changed)
    assert rotated.returncode == 0, rotated.stderr
    states = {line.split()[0]: line.split()[1] for line in rotated.stdout.splitlines()}
    assert states[kid_of(old_token)] == "retired"
    shop = processes.shop(fresh_database, "shop-new-secret", **changed)
    async with httpx.AsyncClient(timeout=30) as client:
        me = await client.get(f"{shop.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {old_token}"})
        assert me.status_code == 200, me.text
        new_token = (await login(client, shop.url))["access_token"]
        assert states[kid_of(new_token)] == "active"
    # The old secret, in turn, no longer opens the keys that sign.
    one_line_refusal(cli(fresh_database, tmp_path, "keys", "rotate", JWT_ALGORITHM="EdDSA"))


# --- rotation under load ------------------------------------------------------------------------------


class KeepAliveClient:
    """A bare HTTP/1.1 keep-alive connection to the verifier: the load generator must not be the
    bottleneck, and httpx costs about a millisecond of CPU per request."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, token: str) -> tuple[int, dict[str, Any]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        )
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, json.loads(await self.reader.readexactly(length))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


@dataclass
class Load:
    checks: int = 0
    verified: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    shop_checks: int = 0
    shop_refused: list[str] = field(default_factory=list)
    kids_verified: set[str] = field(default_factory=set)
    minted: list[tuple[str, str, str]] = field(default_factory=list)  # (token, kid, shop base)
    rotations: list[tuple[int, str]] = field(default_factory=list)  # (checks so far, new active kid)
    propagation: list[float] = field(default_factory=list)  # seconds until every shop signed with it
    elapsed: float = 0.0
    jwks_fetches: int = 0

    def report(self, title: str) -> str:
        return (
            f"{title}: {self.verified} tokens verified, {len(self.refused)} refused at the verifier; "
            f"{self.shop_checks} cross-checked at shop, {len(self.shop_refused)} refused; "
            f"{len(self.kids_verified)} keys seen; {len(self.minted)} tokens minted; "
            f"{self.checks / self.elapsed:.0f} verifications/s over {self.elapsed:.1f} s "
            f"(offered: {CHECKS_PER_SECOND}/s); rotations after {', '.join(str(at) for at, _ in self.rotations[1:])} "
            "checks; "
            f"verifier fetched the key set {self.jwks_fetches} times; "
            f"every instance signed with the new key {', '.join(f'{p:.1f}' for p in self.propagation)} s "
            "after each rotation"
        )


async def run_load(
    shops: list[str],
    verifier: str,
    refresh_tokens: list[str],
    rotate: Callable[[], Awaitable[tuple[str, float]]],
) -> Load:
    """Mint tokens (refreshes, round robin over the shops) and check them at the verifier (and
    some at the other shop) while `rotate` runs at ROTATE_AT; go on until CHECKS checks are done and
    every shop has signed with the last new key."""
    load = Load()
    stop = asyncio.Event()
    started = time.monotonic()
    limits = httpx.Limits(max_connections=CHECKERS + MINTERS + 2)
    first_signed: dict[tuple[str, str], float] = {}  # (kid, shop) -> when first seen

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def mint(index: int) -> None:
            refresh = refresh_tokens[index]
            base = shops[index % len(shops)]
            while not stop.is_set():
                response = await client.post(f"{base}/api/v1/auth/refresh", json={"refresh_token": refresh})
                assert response.status_code == 200, response.text
                pair = response.json()
                refresh = pair["refresh_token"]
                kid = kid_of(pair["access_token"])
                first_signed.setdefault((kid, base), time.monotonic())
                load.minted.append((pair["access_token"], kid, base))
                # A token a few times a second per session is plenty; the CPU goes to verifying.
                await asyncio.sleep(MINT_PAUSE_SECONDS)

        def done() -> bool:
            return (
                load.checks >= CHECKS
                and len(load.rotations) == 1 + len(ROTATE_AT)
                and load.checks >= load.rotations[-1][0] + CHECKS_AFTER_LAST_ROTATION
                and all((load.rotations[-1][1], base) in first_signed for base in shops)
            )

        next_slot = time.monotonic()

        async def paced() -> None:
            """Wait for this check's slot: together the checkers offer CHECKS_PER_SECOND."""
            nonlocal next_slot
            now = time.monotonic()
            slot = max(next_slot, now)
            next_slot = slot + 1 / CHECKS_PER_SECOND
            if slot > now:
                await asyncio.sleep(slot - now)

        async def check() -> None:
            connection = KeepAliveClient(verifier)
            try:
                while not stop.is_set():
                    await paced()
                    if done():
                        stop.set()
                        return
                    if time.monotonic() - started > LOAD_DEADLINE_SECONDS:
                        stop.set()
                        raise AssertionError(f"the load did not finish in {LOAD_DEADLINE_SECONDS} s")
                    # Half the newest token, half a random older one (minted before a rotation, too).
                    token, kid, _ = load.minted[-1] if random.random() < 0.5 else random.choice(load.minted)
                    load.checks += 1
                    status, body = await connection.get("/verify", token)
                    if status == 200:
                        load.verified += 1
                        load.kids_verified.add(body["kid"])
                    else:
                        load.refused.append({"kid": kid, "status": status, "body": body, "at": load.checks})
            finally:
                await connection.close()

        async def cross_check() -> None:
            """Verifies everywhere: a token of one shop instance is accepted by the other."""
            while not stop.is_set():
                token, _, minted_at = random.choice(load.minted)
                other = next((b for b in shops if b != minted_at), minted_at)
                me = await client.get(f"{other}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
                load.shop_checks += 1
                if me.status_code != 200:
                    load.shop_refused.append(me.text)
                await asyncio.sleep(MINT_PAUSE_SECONDS)

        async def rotations() -> None:
            previous = time.monotonic() - ROTATION_SPACING_SECONDS  # the first waits for its checks only
            for at in ROTATE_AT:
                while (
                    load.checks < at or time.monotonic() - previous < ROTATION_SPACING_SECONDS
                ) and not stop.is_set():
                    await asyncio.sleep(0.01)
                previous = time.monotonic()
                if stop.is_set():
                    return
                new_kid, rotated = await rotate()
                load.rotations.append((load.checks, new_kid))
                while not all((new_kid, base) in first_signed for base in shops) and not stop.is_set():
                    await asyncio.sleep(0.05)
                if not stop.is_set():
                    load.propagation.append(max(first_signed[(new_kid, b)] for b in shops) - rotated)

        minters = [asyncio.create_task(mint(i)) for i in range(len(refresh_tokens))]
        while not load.minted:
            await asyncio.sleep(0.01)
        load.rotations.append((0, load.minted[0][1]))
        try:
            await asyncio.gather(rotations(), cross_check(), *(check() for _ in range(CHECKERS)))
        finally:
            stop.set()
            await asyncio.gather(*minters, return_exceptions=True)
        load.elapsed = time.monotonic() - started
        load.jwks_fetches = (await client.get(f"{verifier}/stats")).json()["jwks_fetches"]
    return load


def write_report(line: str) -> None:
    """The counts of the rotation tests, for the closing note (pytest shows them with -s too)."""
    print(line)
    out = ROOT / "test-artifacts" / "jwks-rotation-report.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as handle:
        handle.write(line + "\n")


async def sessions(client: httpx.AsyncClient, base: str, count: int) -> list[str]:
    return [(await login(client, base))["refresh_token"] for _ in range(count)]


async def test_rotation_under_load_refuses_no_valid_token(
    fresh_database: str, processes: Processes, tmp_path: Path
) -> None:
    shop = processes.shop(fresh_database, "shop", JWT_ALGORITHM="EdDSA")
    create_admin(fresh_database, tmp_path)
    async with httpx.AsyncClient(timeout=30) as client:
        metadata = (await client.get(f"{shop.url}/.well-known/oauth-authorization-server")).json()
        verifier = processes.verifier(metadata["jwks_uri"], metadata["issuer"])
        admin = {"Authorization": f"Bearer {(await login(client, shop.url))['access_token']}"}
        refresh_tokens = await sessions(client, shop.url, MINTERS)

        async def rotate() -> tuple[str, float]:
            response = await client.post(f"{shop.url}/api/v1/admin/keys/rotate", headers=admin)
            assert response.status_code == 200, response.text
            return next(k["kid"] for k in response.json() if k["state"] == "active"), time.monotonic()

        load = await run_load([shop.url], verifier, refresh_tokens, rotate)
    write_report(load.report("one instance, EdDSA, rotations by the admin API"))
    if load.refused:
        print(
            "ROTATIONS", load.rotations, "FIRST", load.refused[0], "LAST", load.refused[-1], len(load.refused)
        )
    assert load.refused == [] and load.shop_refused == []
    assert load.verified >= CHECKS
    # Three keys signed: the first, and one after each rotation; the third was made by the first
    # rotation and never seen by the verifier before it signed: it fetched the set again by itself.
    assert len(load.kids_verified) == 3 == len({kid for _, kid in load.rotations})
    assert load.jwks_fetches >= 2


async def test_two_instances_sharing_one_database_rotate_under_load(
    fresh_database: str, processes: Processes, tmp_path: Path
) -> None:
    first = processes.shop(fresh_database, "shop-a", JWT_ALGORITHM="EdDSA")
    issuer = first.url
    second = processes.shop(fresh_database, "shop-b", JWT_ALGORITHM="EdDSA", JWT_ISSUER=issuer)
    # The first instance's issuer is the platform's; both answer the same.
    create_admin(fresh_database, tmp_path)
    async with httpx.AsyncClient(timeout=30) as client:
        for shop in (first, second):
            metadata = (await client.get(f"{shop.url}/.well-known/oauth-authorization-server")).json()
            assert metadata["issuer"] == issuer
        sets = [(await client.get(f"{s.url}/.well-known/jwks.json")).json() for s in (first, second)]
        assert sets[0] == sets[1] and len(sets[0]["keys"]) == 2  # active and next, the same everywhere
        # The verifier reads the second instance's key set; tokens come from both.
        verifier = processes.verifier(f"{second.url}/.well-known/jwks.json", issuer)
        refresh_tokens = await sessions(client, first.url, MINTERS)

    async def rotate() -> tuple[str, float]:
        # A third process: the command line, as an operator would; the instances notice by themselves.
        done = await asyncio.to_thread(
            cli, fresh_database, tmp_path, "keys", "rotate", JWT_ALGORITHM="EdDSA", JWT_ISSUER=issuer
        )
        assert done.returncode == 0, done.stderr
        active = next(line.split() for line in done.stdout.splitlines() if line.split()[1:2] == ["active"])
        activated = datetime.fromisoformat(active[active.index("activated") + 1]).timestamp()
        return active[0], time.monotonic() - (time.time() - activated)

    load = await run_load([first.url, second.url], verifier, refresh_tokens, rotate)
    write_report(load.report("two instances, one database, EdDSA, rotations by `shop keys rotate`"))
    assert load.refused == [] and load.shop_refused == []
    assert load.verified >= CHECKS
    assert len(load.kids_verified) == 3
    assert load.jwks_fetches >= 2
    assert {base for _, _, base in load.minted} == {first.url, second.url}
