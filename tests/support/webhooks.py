"""Real webhook receivers for the tests: HTTP servers on loopback (uvicorn, in a thread of their own)
that verify every message with the `standardwebhooks` library, as a receiver of shop's is told to."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.net import free_port
from tests.support.waiting import wait_until, wait_until_async

# Settings of an app whose dispatcher tries quickly (tests/webhooks/conftest.py's `hooks_app_with`).
QUICK = {
    "webhook_allow_private_targets": True,  # the receivers are on loopback
    "webhook_retry_schedule": [0.2, 0.2],
    "webhook_timeout_seconds": 1.0,
    "webhook_poll_seconds": 0.05,
    # Mail waits in the outbox, where the tests read their links (a sent mail's body is blanked).
    "mail_poll_seconds": 600,
}
# `async with hooks_app_with(**settings) as app`
HooksApp = Callable[..., AbstractAsyncContextManager[Any]]

# The answer to one message: a status (and headers), after an optional wait (to hang past the
# sender's timeout). Every verified message is in `attempts`; those answered 2xx in `messages`.
Answer = Callable[["Message"], Awaitable[int | tuple[int, dict[str, str]]]]


@dataclass(frozen=True)
class Message:
    id: str
    type: str
    data: Any
    headers: dict[str, str]
    body: bytes
    verified_by: tuple[int, ...]  # indexes of `Receiver.secrets` whose verification passed


async def ok(_: Message) -> int:
    return 200


@dataclass
class Receiver:
    """Collects what it is sent. `secrets`: every secret a message is verified with (each message
    must verify with at least one, else it is kept in `forged`)."""

    answer: Answer = ok
    secrets: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    attempts: list[Message] = field(default_factory=list)
    forged: list[bytes] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    keep_alive: float = 5.0  # seconds an idle connection stays open before the receiver closes it

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        if scope["method"] != "POST":  # a message is a POST (API.md): anything else is not one
            await _respond(send, 405)
            return
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        verified: list[int] = []
        for index, secret in enumerate(list(self.secrets)):
            try:
                Webhook(secret).verify(body, headers)
                verified.append(index)
            except WebhookVerificationError:
                pass
        if not verified:
            with self._lock:
                self.forged.append(body)
            await _respond(send, 400)
            return
        payload = json.loads(body)
        message = Message(
            headers["webhook-id"], payload["type"], payload["data"], headers, body, tuple(verified)
        )
        with self._lock:
            self.attempts.append(message)
        answer = await self.answer(message)
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        if 200 <= status < 300:
            with self._lock:
                self.messages.append(message)
        await _respond(send, status, extra)

    def start(self) -> Receiver:
        config = uvicorn.Config(
            self,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=self.keep_alive,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(
            lambda: self._server is not None and self._server.started, "the receiver started", 30, 0.01
        )
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def received(self, event_type: str | None = None) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if event_type is None or m.type == event_type]

    async def wait_for(
        self, count: int, event_type: str | None = None, timeout: float = 30.0
    ) -> list[Message]:
        def enough() -> list[Message] | None:
            received = self.received(event_type)
            return received if len(received) >= count else None

        def said() -> str:
            return (
                f"{count} messages, not {len(self.received(event_type))}: {[m.type for m in self.received()]}"
            )

        return await wait_until_async(enough, said, timeout)


async def _respond(send: Any, status: int, extra: dict[str, str] | None = None) -> None:
    headers = [(b"content-length", b"0"), *((k.encode(), v.encode()) for k, v in (extra or {}).items())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


ENDPOINTS = "/api/v1/admin/webhooks"


async def add_endpoint(
    client: Any,
    headers: dict[str, str],
    receiver: Receiver,
    events: list[str] | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Register `receiver` as an endpoint; it verifies with the secret the answer shows."""
    response = await client.post(
        ENDPOINTS, json={"url": url or receiver.url, "events": events or ["*"]}, headers=headers
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint
