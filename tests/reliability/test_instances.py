"""Several instances behave as one: two `shop serve` processes on one PostgreSQL and one Redis —
directly, and through PgBouncer in transaction-pooling mode.

Both start at once on an empty database (the migration lock), then: a mail queued while both run
is sent exactly once; logout on one revokes on the other; one refresh token raced to both succeeds
once; a passkey added on one signs in on the other, once per challenge; deactivation on one locks the user out of the other; the lockout and the login rate limit
count across both.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.auth import PASSWORD, bearer, mailed_token
from tests.support.ci import require
from tests.support.databases import NewDatabase, query
from tests.support.net import free_port
from tests.support.redis_server import RedisServer
from tests.support.serve import ShopServer, register
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until
from tests.support.webauthn import SoftAuthenticator


class PgBouncer:
    """Debian's pgbouncer in transaction-pooling mode in front of the test PostgreSQL."""

    def __init__(self, folder: Path, server_url: str) -> None:
        self.binary = require("pgbouncer", "the PgBouncer multi-instance test")
        self.folder = folder
        self.port = free_port()
        self.server = make_url(server_url)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PgBouncer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        server = self.server
        password = f" password={server.password}" if server.password else ""
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={server.host or '127.0.0.1'} port={server.port or 5432} user={server.username}{password}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            "auth_type = any\npool_mode = transaction\n"
            "max_client_conn = 500\ndefault_pool_size = 20\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        config.chmod(0o644)
        # pgbouncer refuses to run as root: it drops to `nobody` once it has read its config.
        self.process = subprocess.Popen(
            [self.binary, "-u", "nobody", str(config)],
            stdout=(self.folder / "pgbouncer.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        import socket

        def up() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log()
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(up, "pgbouncer accepts connections", 30)
        return self

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url_for(self, database_url: str) -> str:
        """The database's URL through the pooler, with the settings docs/RELIABILITY.md gives."""
        direct = make_url(database_url)
        pooled = direct.set(host="127.0.0.1", port=self.port, password=None)
        return pooled.update_query_dict({"prepared_statement_cache_size": "0"}).render_as_string(
            hide_password=False
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture(params=["direct", "pgbouncer"])
def pooler(request: pytest.FixtureRequest, tmp_path: Path, server_url: str) -> Iterator[PgBouncer | None]:
    if request.param == "direct":
        yield None
        return
    bouncer = PgBouncer(tmp_path / "pgbouncer", server_url).start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


def _login(base: str, email: str, password: str, client: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": client},
        timeout=30,
    )


def _signed_in(base: str, email: str, client: str) -> dict[str, Any]:
    response = _login(base, email, PASSWORD, client)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_two_instances_behave_as_one(
    pooler: PgBouncer | None, new_database: NewDatabase, tmp_path: Path
) -> None:
    direct_url = await new_database()
    url = pooler.url_for(direct_url) if pooler else direct_url
    redis = RedisServer(tmp_path / "redis").start()
    smtp = SmtpSink()
    smtp.start()
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": redis.url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_REGISTER": "1000/minute",
        "RATE_LIMIT_LOGIN": "5/5minutes",
        "LOCKOUT_THRESHOLD": "3",
        # Each check below plays another client address, so their login budgets do not mix.
        "TRUSTED_PROXIES": "127.0.0.1/32",
        # Instances behind one address share one PUBLIC_URL (unset, each would take its own port
        # as its token issuer, and refuse the other's tokens).
        "PUBLIC_URL": "http://shop.example",
    }
    one = ShopServer(tmp_path / "one" / "data", **env)
    two = ShopServer(tmp_path / "two" / "data", **env)
    try:
        # Both at once on an empty database: one migrates, the other waits for the lock.
        one.start()
        two.start()
        one.wait_ready(path="/health/ready")
        two.wait_ready(path="/health/ready")
        a, b = one.url, two.url

        # Mail queued while both run: each sent exactly once.
        emails = [f"user{i}@example.com" for i in range(6)]
        for i, email in enumerate(emails):
            assert register(a if i % 2 else b, email).status_code == 201

        def all_sent() -> bool:
            return query(direct_url, "SELECT count(*) FROM mail.outbox WHERE sent_at IS NULL")[0][0] == 0

        wait_until(all_sent, "every queued mail is sent")
        assert sorted(str(m["To"]) for m in smtp.messages) == sorted(emails)
        for i, email in enumerate(emails[:4]):
            token = mailed_token(smtp.wait_for_blocking(email)[-1])
            verified = httpx.post(f"{a if i % 2 else b}/api/v1/auth/verify-email", json={"token": token})
            assert verified.status_code == 200, verified.text

        # Logout on one instance revokes the token on the other.
        pair = _signed_in(a, emails[0], "198.51.100.1")
        assert httpx.post(f"{b}/api/v1/auth/logout", headers=bearer(pair)).status_code == 204
        me = httpx.get(f"{a}/api/v1/auth/me", headers=bearer(pair))
        assert me.status_code == 401 and me.json()["code"] == "token_revoked"

        # One refresh token raced to both instances: exactly one rotation wins.
        pair = _signed_in(a, emails[1], "198.51.100.2")
        results: list[httpx.Response] = []
        barrier = threading.Barrier(2)

        def refresh(base: str) -> None:
            barrier.wait()
            body = {"refresh_token": pair["refresh_token"]}
            results.append(httpx.post(f"{base}/api/v1/auth/refresh", json=body, timeout=30))

        threads = [threading.Thread(target=refresh, args=(base,)) for base in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r.status_code for r in results) == [200, 401]
        assert next(r for r in results if r.status_code == 401).json()["code"] == "token_reused"

        # A passkey added on one instance signs in on the other (its two statements go to the
        # driver, through PgBouncer too), and its challenge is spent once for both.
        pair = _signed_in(a, emails[1], "198.51.100.6")
        passkeys, forwarded = "/api/v1/auth/passkeys", {"X-Forwarded-For": "198.51.100.6"}
        authenticator = SoftAuthenticator("http://shop.example", algorithm="EdDSA")
        options = httpx.post(
            f"{a}{passkeys}/registration-options",
            json={"password": PASSWORD},
            headers={**bearer(pair), **forwarded},
        )
        assert options.status_code == 200, options.text
        added = httpx.post(
            f"{a}{passkeys}",
            json={"credential": authenticator.create(options.json()), "name": "instances"},
            headers={**bearer(pair), **forwarded},
        )
        assert added.status_code == 201, added.text
        options = httpx.post(f"{a}{passkeys}/authentication-options", json={}, headers=forwarded)
        assertion = {"credential": authenticator.get(options.json())}
        signed_in = httpx.post(f"{b}{passkeys}/authenticate", json=assertion, headers=forwarded)
        assert signed_in.status_code == 200, signed_in.text
        assert httpx.get(f"{a}/api/v1/auth/me", headers=bearer(signed_in.json())).status_code == 200
        replayed = httpx.post(f"{a}{passkeys}/authenticate", json=assertion, headers=forwarded)
        assert replayed.status_code == 401 and replayed.json()["code"] == "invalid_credentials"

        # Deactivation on one instance: the user's token fails on the other at once.
        one.create_admin("admin@example.com")
        admin = _signed_in(b, "admin@example.com", "198.51.100.3")
        user = _signed_in(a, emails[2], "198.51.100.4")
        user_id = httpx.get(f"{a}/api/v1/auth/me", headers=bearer(user)).json()["id"]
        patched = httpx.patch(
            f"{b}/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=bearer(admin)
        )
        assert patched.status_code == 200, patched.text
        me = httpx.get(f"{a}/api/v1/auth/me", headers=bearer(user))
        assert me.status_code == 401 and me.json()["code"] == "token_revoked"

        # Lockout and the login rate limit count across both (threshold 3, limit 5 per address).
        client, email = "198.51.100.5", emails[3]
        answers = [
            _login(a, email, "wrong password 1", client),
            _login(b, email, "wrong password 2", client),
            _login(a, email, "wrong password 3", client),
            _login(b, email, PASSWORD, client),
            _login(a, email, PASSWORD, client),
            _login(b, email, PASSWORD, client),
        ]
        assert [r.status_code for r in answers] == [401, 401, 423, 423, 423, 429]
    finally:
        codes = (one.stop(), two.stop())
        smtp.stop()
        redis.stop()
        # Captured, shown when the test fails: what each instance logged.
        print("--- one\n" + one.output() + "\n--- two\n" + two.output())
    assert codes == (0, 0), one.output() + two.output()
    assert "Traceback" not in one.output() + two.output(), one.output() + two.output()
