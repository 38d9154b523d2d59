"""Request bodies over MAX_BODY_BYTES: 413 payload_too_large, without reading them whole.

Twice: through the ASGI interface, where the test counts how much of the body the app pulled, and
through a real uvicorn server over a raw socket, where a lying Content-Length behaves differently
(the server itself cuts the body at the declared length).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shop.core.config import Settings
from tests.support.app import AppWith, http_client
from tests.support.net import EXIT_SECONDS, STARTUP_SECONDS, free_port
from tests.support.problems import PROBLEM
from tests.support.serve import shop_env
from tests.support.waiting import answering, wait_until

LOGIN = "/api/v1/auth/login"
MIB = 1024 * 1024
CHUNK = 16 * 1024


def assert_too_large(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413, body
    assert headers["content-type"] == PROBLEM
    assert json.loads(body)["code"] == "payload_too_large"


# --- through ASGI: how much of the body did the app read? --------------------------------------


class Sent:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


async def post_in_chunks(app: FastAPI, headers: list[tuple[bytes, bytes]], total: int) -> tuple[Sent, int]:
    """POSTs `total` bytes of JSON-ish text in 16 KiB messages; returns the answer and how many
    messages the app pulled."""
    pulled = 0
    remaining = total

    async def receive() -> dict[str, Any]:
        nonlocal pulled, remaining
        if remaining <= 0:
            return {"type": "http.disconnect"}
        size = min(CHUNK, remaining)
        remaining -= size
        pulled += 1
        return {"type": "http.request", "body": b" " * size, "more_body": remaining > 0}

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": LOGIN,
        "raw_path": LOGIN.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"shop.test"), (b"content-type", b"application/json"), *headers],
        "client": ("203.0.113.7", 50000),
        "server": ("shop.test", 80),
        "state": {},
    }
    sent = Sent()
    await app(scope, receive, sent)
    return sent, pulled


async def test_a_declared_length_over_the_limit_is_refused_unread(app: FastAPI) -> None:
    sent, pulled = await post_in_chunks(app, [(b"content-length", str(8 * MIB).encode())], 8 * MIB)
    assert_too_large(sent.status, sent.headers, sent.body)
    assert pulled == 0


async def test_a_chunked_body_over_the_limit_is_refused_early(app: FastAPI) -> None:
    sent, pulled = await post_in_chunks(app, [(b"transfer-encoding", b"chunked")], 8 * MIB)
    assert_too_large(sent.status, sent.headers, sent.body)
    assert pulled <= 65536 // CHUNK + 1


async def test_an_understated_content_length_is_refused_early(app: FastAPI) -> None:
    sent, pulled = await post_in_chunks(app, [(b"content-length", b"20")], 8 * MIB)
    assert_too_large(sent.status, sent.headers, sent.body)
    assert pulled <= 65536 // CHUNK + 1


async def test_an_8_mib_login_is_413_problem_json(client: httpx.AsyncClient) -> None:
    body = json.dumps({"email": "ada@example.com", "password": "x" * (8 * MIB)})
    response = await client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert_too_large(response.status_code, dict(response.headers), response.content)
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.fixture
async def small_limit_client(app_with: AppWith) -> AsyncIterator[httpx.AsyncClient]:
    async with app_with(max_body_bytes=1024) as application, http_client(application) as client:
        yield client


def _login_body(size: int) -> bytes:
    body = json.dumps({"email": "ada@example.com", "password": ""})
    return json.dumps({"email": "ada@example.com", "password": "p" * (size - len(body))}).encode()


async def test_the_limit_is_max_body_bytes(small_limit_client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    at_limit = await small_limit_client.post(LOGIN, content=_login_body(1024), headers=headers)
    # Read and validated (the password is too long for the rules), not refused for its size.
    assert at_limit.status_code == 422, at_limit.text
    assert at_limit.json()["errors"][0]["type"] == "string_too_long"
    over = await small_limit_client.post(LOGIN, content=_login_body(1025), headers=headers)
    assert_too_large(over.status_code, dict(over.headers), over.content)
    form = await small_limit_client.post("/api/v1/auth/token", data={"username": "a", "password": "p" * 2000})
    assert_too_large(form.status_code, dict(form.headers), form.content)


def test_max_body_bytes_defaults_to_64_kib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_BODY_BYTES", raising=False)
    assert Settings(_env_file=None).max_body_bytes == 65536  # type: ignore[call-arg]
    monkeypatch.setenv("MAX_BODY_BYTES", "4096")
    assert Settings(_env_file=None).max_body_bytes == 4096  # type: ignore[call-arg]


# --- through a real uvicorn server -------------------------------------------------------------

SERVER_LIMIT = 4096


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    env = shop_env(
        tmp_path_factory.mktemp("server"),
        DATABASE_URL=database_url,
        ENVIRONMENT="test",
        MAX_BODY_BYTES=str(SERVER_LIMIT),
        RATE_LIMIT_ENABLED="false",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "shop.main:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def output() -> str:
            return process.stdout.read().decode() if process.stdout else ""

        url = f"http://127.0.0.1:{port}/health/live"
        wait_until(answering(url, process, output), "uvicorn started", STARTUP_SECONDS)
        yield port
    finally:
        process.terminate()
        output = process.communicate(timeout=EXIT_SECONDS)[0].decode()
        assert "Traceback" not in output, output


def read_response(
    sock: socket.socket | None, buffer: bytes = b""
) -> tuple[int, dict[str, str], bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length, from `buffer` and then `sock`: status, headers,
    body, and the bytes after it."""

    def more() -> bytes:
        data = sock.recv(65536) if sock is not None else b""
        assert data, f"connection closed mid-response: {buffer!r}"
        return data

    while b"\r\n\r\n" not in buffer:
        buffer += more()
    head, rest = buffer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        rest += more()
    return status, headers, rest[:length], rest[length:]


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(30)  # a safety net against a hang, not an assertion
    return sock


def request_head(port: int, *headers: str) -> bytes:
    lines = [f"POST {LOGIN} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_real_server_refuses_a_declared_large_body_before_it_is_sent(server: int) -> None:
    with connect(server) as sock:
        # Only the head goes out: the answer comes although not one byte of the body was sent.
        sock.sendall(request_head(server, f"Content-Length: {8 * MIB}"))
        status, headers, body, _ = read_response(sock)
    assert_too_large(status, headers, body)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-request-id"]


def test_real_server_refuses_a_chunked_body_before_its_end(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(request_head(server, "Transfer-Encoding: chunked"))
        chunk = b"x" * 1024
        for _ in range(SERVER_LIMIT // len(chunk) + 1):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        # No last chunk: the body never ends, and still the answer comes.
        status, headers, body, _ = read_response(sock)
    assert_too_large(status, headers, body)


def test_real_server_cuts_an_understated_body_at_its_content_length(server: int) -> None:
    """On a real server the declared length bounds what the app may read (the ASGI tests above
    cover an understated length reaching the app): the app gets `{}` at most, the server takes the
    bytes beyond for a malformed next request and closes the connection. Never a 500, and the
    server serves on."""
    with connect(server) as sock:
        sock.sendall(request_head(server, "Content-Length: 2") + b"{}" + b"x" * (SERVER_LIMIT * 4))
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while data := sock.recv(65536):  # until the server closes
            received += data
    statuses = []
    while received:
        status, _, body, received = read_response(None, received)
        statuses.append(status)
        if status == 422:  # the app's answer: it saw `{}` and nothing more
            missing = {tuple(e["loc"]) for e in json.loads(body)["errors"] if e["type"] == "missing"}
            assert missing == {("body", "email"), ("body", "password")}
    assert statuses and set(statuses) <= {400, 422}, statuses
    assert httpx.get(f"http://127.0.0.1:{server}/health/live").status_code == 200


def test_real_server_answers_after_a_refused_body(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(request_head(server, f"Content-Length: {SERVER_LIMIT + 1}") + b"x" * 100)
        status, headers, body, _ = read_response(sock)
    assert_too_large(status, headers, body)
    response = httpx.post(
        f"http://127.0.0.1:{server}{LOGIN}", json={"email": "ada@example.com", "password": "x"}
    )
    assert response.status_code == 401
