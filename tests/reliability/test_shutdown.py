"""SIGTERM under load, over real processes: `shop serve` on its embedded PostgreSQL (DATABASE_URL
unset), clients registering and signing in (argon2 at its real cost) as fast as they can, mail
going to a real SMTP server, and requests the test holds in flight on purpose.

A held request is one the app is reading the body of: it was sent with `Expect: 100-continue`, and
uvicorn answers `100 Continue` only when the app first asks for the body. So when the signal comes
those requests are under way for certain, and they stay so until the test sends their bodies — after
it has seen new connections refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from shop.core.embedded import EmbeddedPostgres
from tests.support.auth import PASSWORD
from tests.support.databases import NewDatabase, query
from tests.support.net import EXIT_SECONDS, STARTUP_SECONDS
from tests.support.serve import ShopServer, register_verified
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until

GRACE_SECONDS = 60  # the liveness bound of the held requests, far above what they need


class HeldRequest:
    """A POST whose headers the app has taken and whose body it is waiting for."""

    def __init__(self, port: int, path: str, body: dict[str, str]) -> None:
        self.body = json.dumps(body).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=STARTUP_SECONDS)
        self.sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
        )
        interim = self._read_until(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100"), interim

    def _read_until(self, end: bytes, data: bytes = b"") -> bytes:
        while end not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def finish(self) -> tuple[int, dict[str, str], bytes]:
        """Send the body; the status, headers and body of the answer."""
        self.sock.sendall(self.body)
        data = b""
        while chunk := self.sock.recv(65536):  # the server closes the connection after it
            data += chunk
        self.sock.close()
        head, _, content = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
        return int(status_line.split()[1]), headers, content


def _connection_refused(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(5)
        try:
            probe.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False


def _postgres_processes(pgdata: Path) -> list[int]:
    """Processes whose command line names the cluster's data directory (the postmaster's `-D`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if str(pgdata).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def test_sigterm_under_load_finishes_what_is_under_way(tmp_path: Path) -> None:
    smtp = SmtpSink()
    smtp.start()
    data_dir = tmp_path / "data"
    env = {
        "RATE_LIMIT_ENABLED": "false",  # a few clients as fast as they can
        "ARGON2_MEMORY_COST": "19456",  # the default cost: logins and registrations take a while
        "ARGON2_TIME_COST": "2",
        "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
    }
    server = ShopServer(data_dir, smtp=smtp, **env)  # no DATABASE_URL: the embedded PostgreSQL
    cluster = EmbeddedPostgres(data_dir)
    answers: list[tuple[str, str, int | str]] = []  # (kind, email, status or exception)
    signalled = threading.Event()
    stop = threading.Event()

    def load(worker: int) -> None:
        count = 0
        while not stop.is_set():
            count += 1
            if count % 2:
                kind, email = "register", f"load-{worker}-{count}@example.com"
                body = {"email": email, "password": PASSWORD, "confirm_password": PASSWORD}
            else:
                kind, email = "login", f"member-{worker % 2}@example.com"
                body = {"email": email, "password": PASSWORD}
            try:  # a connection of its own each time, as independent clients have
                status: int | str = httpx.post(
                    f"{server.url}/api/v1/auth/{kind}", json=body, timeout=120
                ).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
                if signalled.is_set():
                    time.sleep(0.05)
            answers.append((kind, email, status))

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    held: list[HeldRequest] = []
    try:
        server.start().wait_ready(STARTUP_SECONDS)
        for member in range(2):
            asyncio.run(register_verified(server, f"member-{member}@example.com"))
        for thread in threads:
            thread.start()
        wait_until(lambda: sum(1 for a in answers if a[2] in (200, 201)) >= 12, "requests flow")
        held = [
            HeldRequest(
                server.port,
                "/api/v1/auth/register",
                {"email": f"held-{n}@example.com", "password": PASSWORD, "confirm_password": PASSWORD},
            )
            for n in range(3)
        ]
        held.append(
            HeldRequest(
                server.port, "/api/v1/auth/login", {"email": "member-0@example.com", "password": PASSWORD}
            )
        )
        assert server.process is not None
        server.process.terminate()  # SIGTERM
        signalled.set()
        # New connections are refused while the held requests are still under way.
        wait_until(lambda: _connection_refused(server.port), "new connections are refused")
        assert server.process.poll() is None, "shop serve ended before its requests did"
        finished = [request.finish() for request in held]
        held = []
        code = server.process.wait(timeout=EXIT_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join()
        for request in held:
            request.sock.close()
        server.kill()
    output = server.output()
    assert code == 0, output
    assert "Traceback" not in output and "unhandled error" not in output, output

    # Every request under way at the signal got its normal answer, and the connection closed.
    assert [status for status, _, _ in finished] == [201, 201, 201, 200], finished
    assert all(headers.get("connection") == "close" for _, headers, _ in finished), finished
    # Every other request got its normal answer, or found no server (never a 5xx).
    normal = {"register": 201, "login": 200}
    odd = [a for a in answers if a[2] != normal[a[0]] and not isinstance(a[2], str)]
    assert odd == [], odd
    refused = Counter(a[2] for a in answers if isinstance(a[2], str))
    assert refused, "no request met the stopped server"

    # The embedded PostgreSQL was stopped cleanly.
    assert not (cluster.pgdata / "postmaster.pid").exists()
    assert _postgres_processes(cluster.pgdata) == []
    log_size = cluster.log_file.stat().st_size

    # A restart needs no recovery, and every address registered got exactly one mail.
    again = ShopServer(data_dir, port=server.port, smtp=smtp, **env).start()
    try:
        again.wait_ready(STARTUP_SECONDS)
        with cluster.log_file.open("rb") as log:
            log.seek(log_size)
            restart_log = log.read().decode(errors="replace")
        assert "database system was shut down at" in restart_log, restart_log
        assert "interrupted" not in restart_log and "recovery" not in restart_log, restart_log
        url = "postgresql+asyncpg://shop:{}@127.0.0.1:{}/shop".format(
            (data_dir / "postgres.password").read_text().strip(),
            (data_dir / "postgres.port").read_text().strip(),
        )
        registered = {email for (email,) in query(url, "SELECT email FROM auth.users")}
        # A registration whose client saw no answer never began: nothing of it was written.
        unanswered = {
            email for kind, email, status in answers if kind == "register" and isinstance(status, str)
        }
        assert registered & unanswered == set()
        answered = {email for kind, email, status in answers if kind == "register" and status == 201}
        held_emails = {f"held-{n}@example.com" for n in range(3)}
        assert registered == answered | held_emails | {"member-0@example.com", "member-1@example.com"}
        for email in registered:
            smtp.wait_for_blocking(email)
        wait_until(
            lambda: query(url, "SELECT count(*) FROM mail.outbox WHERE sent_at IS NULL")[0][0] == 0,
            "the outbox is empty",
        )
        per_recipient = Counter(str(m["To"]).lower() for m in smtp.messages)
        assert set(per_recipient) == registered
        assert set(per_recipient.values()) == {1}, per_recipient
    finally:
        assert again.stop() == 0, again.output()
        smtp.stop()
    assert not (cluster.pgdata / "postmaster.pid").exists()
    assert os.path.exists(cluster.log_file)


async def test_a_request_that_outlasts_the_grace_is_cut_off_with_503(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    """SHUTDOWN_GRACE_SECONDS bounds the stop: a request whose body never comes does not keep the
    process alive. It is answered 503 (before: uvicorn's 500, and a traceback in the log)."""
    url = await new_database()
    server = ShopServer(tmp_path / "data", DATABASE_URL=url, SHUTDOWN_GRACE_SECONDS="2").start()
    try:
        server.wait_ready(STARTUP_SECONDS)
        stuck = HeldRequest(
            server.port, "/api/v1/auth/login", {"email": "stuck@example.com", "password": PASSWORD}
        )
        assert server.process is not None
        server.process.terminate()
        code = server.process.wait(timeout=EXIT_SECONDS)
        data = b""
        while chunk := stuck.sock.recv(65536):
            data += chunk
        stuck.sock.close()
    finally:
        server.kill()
    output = server.output()
    assert code == 0, output
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), data
    assert b"retry-after: 1" in head.lower() and b"application/problem+json" in head.lower(), data
    assert json.loads(body)["code"] == "service_unavailable"
    assert "Traceback" not in output and "Exception in ASGI application" not in output, output


def test_sigterm_while_starting_leaves_no_database_running(tmp_path: Path) -> None:
    """SIGTERM as soon as the embedded PostgreSQL runs — shop is then creating its database or
    migrating it: shop stops it and exits 0 (before: killed by the signal, the server left running),
    and the next start finds a whole cluster and serves."""
    data_dir = tmp_path / "data"
    cluster = EmbeddedPostgres(data_dir)
    server = ShopServer(data_dir).start()
    try:
        assert server.process is not None
        wait_until((cluster.pgdata / "postmaster.pid").exists, "the embedded PostgreSQL runs", 120)
        server.process.terminate()
        code = server.process.wait(timeout=EXIT_SECONDS)
    finally:
        server.kill()
    output = server.output()
    assert code == 0, output
    assert "Traceback" not in output, output
    assert not (cluster.pgdata / "postmaster.pid").exists()
    assert _postgres_processes(cluster.pgdata) == []
    again = ShopServer(data_dir).start()
    try:
        again.wait_ready(STARTUP_SECONDS, path="/health/ready")
    finally:
        assert again.stop() == 0, again.output()
    assert _postgres_processes(cluster.pgdata) == []
