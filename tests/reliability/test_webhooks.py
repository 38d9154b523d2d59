"""Webhooks across processes: two `shop serve` instances on one database deliver each of a few
hundred messages once; a SIGTERM to one in the middle of deliveries loses none. Endpoints are added with
`shop webhooks add`; receivers verify every message with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path

from tests.support.databases import NewDatabase, query
from tests.support.serve import ShopServer
from tests.support.waiting import wait_until
from tests.support.webhooks import Message, Receiver

WEBHOOKS = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on loopback
    "WEBHOOK_POLL_SECONDS": "0.05",
    "WEBHOOK_RETRY_SCHEDULE": "0.2,0.2,0.2,0.2,0.2",
    "WEBHOOK_TIMEOUT_SECONDS": "3",
}


def add_receiver(server: ShopServer, receiver: Receiver) -> str:
    """`shop webhooks add`: the endpoint's id; the receiver learns the secret it printed."""
    printed = server.command("webhooks", "add", receiver.url, "--events", "*")
    endpoint_id = re.search(r"^endpoint (\S+)$", printed, re.MULTILINE)
    secret = re.search(r"^secret (whsec_\S+)$", printed, re.MULTILINE)
    assert endpoint_id and secret, printed
    receiver.secrets.append(secret.group(1))
    return endpoint_id.group(1)


def queue_messages(database_url: str, endpoint_id: str, count: int) -> set[str]:
    """`count` messages recorded at once (a burst), as the recording of events writes them."""
    rows = query(
        database_url,
        "INSERT INTO webhooks.deliveries (endpoint_id, event_id, type, body) "
        "SELECT CAST(:endpoint AS uuid), gen_random_uuid(), 'webhook.test', "
        '\'{"type":"webhook.test","timestamp":"2026-12-05T00:00:00Z","data":{"n":\' || n || \'}}\' '
        "FROM generate_series(1, :count) AS n RETURNING event_id",
        endpoint=endpoint_id,
        count=count,
    )
    return {str(row[0]) for row in rows}


def started(*servers: ShopServer) -> None:
    for server in servers:
        server.start()
    for server in servers:
        server.wait_ready(path="/health/ready")


async def test_two_instances_deliver_each_message_once_and_a_sigterm_loses_none(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    pace = {"seconds": 0.005}  # a receiver with some work to do: both instances take part

    async def busy(_: Message) -> int:
        await asyncio.sleep(pace["seconds"])
        return 200

    url = await new_database()
    receiver = Receiver(answer=busy).start()
    env = {"DATABASE_URL": url, **WEBHOOKS, "WEBHOOK_ENDPOINT_CONCURRENCY": "4"}
    one = ShopServer(tmp_path / "one" / "data", **env)
    two = ShopServer(tmp_path / "two" / "data", **env)
    try:
        started(one, two)
        endpoint_id = add_receiver(one, receiver)

        # A burst, sent by both instances: each message exactly once.
        burst = queue_messages(url, endpoint_id, 400)
        wait_until(lambda: len(receiver.received()) >= len(burst), "every message arrives", 120)
        time.sleep(0.5)  # time for a duplicate to show
        counts = Counter(message.id for message in receiver.received())
        assert set(counts) == burst
        assert max(counts.values()) == 1, [i for i, n in counts.items() if n > 1][:5]
        assert receiver.forged == []
        wait_until(
            lambda: (
                query(url, "SELECT count(*) FROM webhooks.deliveries WHERE status <> 'delivered'")[0][0] == 0
            ),
            "every delivery is recorded as delivered",
        )

        # A slow receiver, and SIGTERM to one instance while its sends are under way: they end and
        # are recorded, and the other instance sends the rest.
        pace["seconds"] = 0.3
        before = len(receiver.attempts)
        slow = queue_messages(url, endpoint_id, 40)
        wait_until(lambda: len(receiver.attempts) >= before + 8, "deliveries are under way")
        assert one.stop() == 0, one.output()
        assert {m.id for m in receiver.received()} < burst | slow  # not all delivered yet
        wait_until(lambda: {m.id for m in receiver.received()} >= slow, "every message arrives", 60)
        assert {m.id for m in receiver.received()} == burst | slow
        wait_until(
            lambda: (
                query(url, "SELECT count(*) FROM webhooks.deliveries WHERE status <> 'delivered'")[0][0] == 0
            ),
            "every delivery is recorded as delivered",
        )
        assert two.stop() == 0, two.output()  # the last one stops with nothing in hand either
        assert query(url, "SELECT count(*) FROM webhooks.deliveries WHERE lease_id IS NOT NULL")[0][0] == 0
    finally:
        for server in (one, two):
            server.kill()
        receiver.stop()
