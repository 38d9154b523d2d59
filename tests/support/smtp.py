"""A real SMTP server (aiosmtpd) inside the test process, collecting what it receives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.net import DELIVERY_SECONDS, free_port
from tests.support.waiting import wait_until, wait_until_async


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


class SmtpSink:
    """`controller_options` go to aiosmtpd's Controller: TLS (`tls_context`, `require_starttls`,
    `ssl_context` for implicit TLS) and `authenticator`."""

    def __init__(self, port: int | None = None, **controller_options: Any) -> None:
        self.port = port or free_port()
        self._collector = _Collector()
        self._controller: Controller | None = None
        self._options = controller_options

    @property
    def messages(self) -> list[EmailMessage]:
        return self._collector.messages

    def start(self) -> None:
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port, **self._options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, recipient: str, count: int = 1) -> list[EmailMessage] | None:
        """The mails `recipient` received, if there are `count` of them yet."""
        found = [m for m in self.messages if str(m["To"]).lower() == recipient.lower()]
        return found if len(found) >= count else None

    async def wait_for(
        self, recipient: str, count: int = 1, timeout: float = DELIVERY_SECONDS
    ) -> list[EmailMessage]:
        return await wait_until_async(
            lambda: self._to(recipient, count), f"{count} mail(s) to {recipient}", timeout
        )

    def wait_for_blocking(
        self, recipient: str, count: int = 1, timeout: float = DELIVERY_SECONDS
    ) -> list[EmailMessage]:
        """`wait_for` from a synchronous test (the sink runs in a thread of its own)."""
        return wait_until(lambda: self.to(recipient, count), f"{count} mail(s) to {recipient}", timeout, 0.05)

    async def _to(self, recipient: str, count: int) -> list[EmailMessage] | None:
        return self.to(recipient, count)


@contextmanager
def running_sink(**options: Any) -> Iterator[SmtpSink]:
    """An `SmtpSink` started, stopped afterwards."""
    sink = SmtpSink(**options)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
