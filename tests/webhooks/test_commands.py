"""`shop webhooks list|add|remove|test`, run as the console script runs them (in a thread: each
command has its event loop), with the app's dispatcher delivering what they queue."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shop import cli
from shop.core.config import get_settings
from tests.support.webhooks import HooksApp, Receiver


@pytest.fixture
def command_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("JWT_SECRET_KEY", "test-secret-" + "x" * 40)  # the app's: it opens the secret
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def shop_webhooks(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        await asyncio.to_thread(cli.main, ["webhooks", *argv])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def test_operators_manage_endpoints_without_an_admin_token(
    command_env: None,
    hooks_app_with: HooksApp,
    receivers: Callable[..., Receiver],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receivers()
    app: Any
    async with hooks_app_with() as app:
        code, printed = await shop_webhooks(capsys, "add", receiver.url, "--events", "user.deleted,*")
        assert code == 0, printed
        found = re.search(r"^endpoint (\S+)\nsecret (whsec_\S+)$", printed, re.MULTILINE)
        assert found, printed
        endpoint_id, secret = found.groups()
        receiver.secrets.append(secret)

        code, printed = await shop_webhooks(capsys, "list")
        assert code == 0 and f"{endpoint_id}  active  {receiver.url}  *" in printed
        assert secret not in printed

        code, printed = await shop_webhooks(capsys, "test", endpoint_id)
        assert code == 0, printed
        [message] = await receiver.wait_for(1)
        assert message.type == "webhook.test" and message.id in printed

        code, printed = await shop_webhooks(capsys, "remove", endpoint_id)
        assert code == 0 and "removed" in printed
        code, printed = await shop_webhooks(capsys, "list")
        assert printed.strip() == "no webhook endpoints"
        assert app.state.settings.webhook_allow_private_targets

    # Refusals: one line, a non-zero exit.
    code, printed = await shop_webhooks(capsys, "remove", endpoint_id)
    assert code == 1 and "not found" in printed
    code, printed = await shop_webhooks(capsys, "add", "http://127.0.0.1/", "--events", "user.exploded")
    assert code == 1 and "unknown event types" in printed
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    get_settings.cache_clear()
    code, printed = await shop_webhooks(capsys, "add", "http://127.0.0.1/")
    assert code == 1 and "public addresses only" in printed
