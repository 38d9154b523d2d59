"""The dispatcher: sends recorded deliveries to their endpoints, from every instance at once and never
one delivery by two at once.

Each pass, in one short transaction, records the outcomes of the sends that ended and claims due
deliveries (`FOR UPDATE SKIP LOCKED`, at most as many per endpoint as that endpoint has free slots
here), leasing them for longer than a send may take; the sends then run outside any transaction. A
dispatcher that dies leaves its leased deliveries due again when the lease ends (at least once). On
stop, the sends under way finish (each within WEBHOOK_TIMEOUT_SECONDS) and are recorded.

Concurrency is bounded twice: WEBHOOK_ENDPOINT_CONCURRENCY per endpoint, so a slow or dead receiver
holds its own slots only, and WEBHOOK_CONCURRENCY in all, so a burst cannot crowd out the requests
this process serves. Each endpoint has its own pool of keep-alive connections (httpcore's), each
checked against the target rules when it is opened (`targets.GuardedBackend`); redirects are not
followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import certifi
import httpcore

from shop.core.background import BackgroundLoop
from shop.core.config import Settings
from shop.core.db import Database
from shop.core.load import RequestLoad
from shop.core.problems import is_outage
from shop.core.secretbox import SecretBoxError
from shop.core.tracing import send_span
from shop.webhooks.metrics import BACKLOG, DELIVERIES, OLDEST_PENDING_AGE
from shop.webhooks.models import DELIVERED, FAILED, PENDING, Endpoint
from shop.webhooks.repository import Claimed, DeliveryRepository, EndpointRepository, Outcome
from shop.webhooks.signing import SecretSeal, Signer
from shop.webhooks.targets import GuardedBackend, TargetRefused, port_of

logger = logging.getLogger("shop.webhooks")

# A lease outlasts the longest send by this much: the outcome is recorded before anyone else may
# take the delivery.
LEASE_MARGIN_SECONDS = 30.0
ENDPOINTS_REFRESH_SECONDS = 1.0
STATS_SECONDS = 1.0
COALESCE_STEPS, COALESCE_STEP_SECONDS = 5, 0.002
PURGE_SECONDS = 3600.0
# Sends under way per endpoint while the process is serving requests (each endpoint keeps its own
# slot: a slow receiver still delays no other).
BACKGROUND_CONCURRENCY = 1
# And at most one pass this often meanwhile (about 25 messages a second per endpoint): a burst must
# not take the CPU that the requests' work needs — a login storm's hashing, measured 15 % slower
# while the dispatcher sent 110 messages a second with no pause, and 12-16 % slower at 32 a second
# (a 20 ms pause); as fast as the same storm idle (1.17 in one make bench phase) at about 19 a second.
BACKGROUND_PAUSE_SECONDS = 0.04
# What is read of a receiver's answer (its status is what counts); the rest is not waited for.
MAX_ANSWER_BYTES = 65536
USER_AGENT = "shop-webhooks"
HEADERS = [(b"user-agent", USER_AGENT.encode()), (b"content-type", b"application/json")]
# The endpoint a send's trace span is for (`shop.core.tracing.send_span`).
ENDPOINT_ATTRIBUTE = "shop.webhook.endpoint_id"
# What httpcore raises for a send that went wrong on the network or in the protocol.
SEND_ERRORS = (
    httpcore.NetworkError,
    httpcore.TimeoutException,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ConnectionNotAvailable,
)


class _Target:
    """An endpoint as the dispatcher sends to it: its URL, its signing secrets, its client."""

    def __init__(self, endpoint: Endpoint, seal: SecretSeal, settings: Settings) -> None:
        self.id = endpoint.id
        # http is refused in production at each delivery too, as when saved (unless allowed).
        self.insecure_refused = (
            endpoint.url.startswith("http://")
            and settings.environment == "production"
            and not settings.webhook_allow_insecure
        )
        self.updated_at = endpoint.updated_at
        self.current = Signer([seal.open(endpoint.secret)])
        self.both: Signer | None = None
        self.previous_until = endpoint.previous_secret_expires_at
        if endpoint.previous_secret is not None and self.previous_until is not None:
            self.both = Signer([seal.open(endpoint.secret), seal.open(endpoint.previous_secret)])
        # httpcore's pool itself: httpx's client around it (cookies, redirects, auth, its own
        # request and response objects) cost a fifth of each send, and none of it is used here.
        # Redirects are not followed; the timeout is the send's own (`asyncio.timeout`).
        self.url = httpcore.URL(endpoint.url)
        self.host = self.url.host.decode()
        self.port = port_of(self.url.scheme.decode(), self.url.port)
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=settings.webhook_endpoint_concurrency,
            max_keepalive_connections=settings.webhook_endpoint_concurrency,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(allow_private=settings.webhook_allow_private_targets),
        )

    def signer(self, now: datetime) -> Signer:
        if self.both is not None and self.previous_until is not None and now < self.previous_until:
            return self.both
        return self.current


class WebhookDispatcher(BackgroundLoop):
    name = "webhook-dispatcher"

    def __init__(self, settings: Settings, database: Database, load: RequestLoad | None = None) -> None:
        """`load`: the requests this process serves; while any are, the dispatcher sends at a
        background pace (a burst of events does not starve them)."""
        super().__init__()
        self.settings = settings
        self.database = database
        self.load = load
        self.seal = SecretSeal(settings.signing_key())
        self.lease_seconds = settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        self._targets: dict[uuid.UUID, _Target] = {}
        self._retired: list[_Target] = []
        self._shown_endpoints: set[str] = set()  # the endpoints the backlog gauges show
        self._in_flight: dict[uuid.UUID, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()
        self._outcomes: list[Outcome] = []
        self._wake = asyncio.Event()
        self._endpoints_at = float("-inf")
        self._stats_at = float("-inf")
        self._purged_at = float("-inf")
        self._turn = itertools.count()

    async def _run(self) -> None:
        try:
            while not self.stopping:
                try:
                    busy = await self.pass_once()
                except Exception as exc:  # the dispatcher must outlive database outages
                    if is_outage(exc):
                        logger.warning("webhook dispatcher pass failed (%s); retrying", type(exc).__name__)
                    else:
                        logger.warning("webhook dispatcher pass failed; retrying", exc_info=True)
                    busy = False
                if not busy:
                    await self._idle(self.settings.webhook_poll_seconds)
                if self.load is not None and self.load.busy():
                    await asyncio.sleep(BACKGROUND_PAUSE_SECONDS)
        finally:
            await self._finish_up()

    async def pass_once(self) -> bool:
        """Record the ended sends, claim what this process has room for, start sending; whether
        there was anything to do."""
        now = time.monotonic()
        self._wake.clear()  # a send that ends from here on wakes the next wait
        if now - self._endpoints_at >= ENDPOINTS_REFRESH_SECONDS:
            await self._refresh_endpoints()
            self._endpoints_at = now
        outcomes, self._outcomes = self._outcomes, []
        limits = self._room()
        lease_id = uuid.uuid4()
        try:
            async with self.database.unit_of_work() as session:
                deliveries = DeliveryRepository(session)
                await deliveries.finish(outcomes)
                claimed = await deliveries.claim(limits, self.lease_seconds, lease_id)
        except BaseException:
            self._outcomes[:0] = outcomes  # recorded at the next pass (or left to their lease)
            raise
        for delivery in claimed:
            self._start(self._targets[delivery.endpoint_id], delivery, lease_id)
        if now - self._stats_at >= STATS_SECONDS:
            await self._refresh_stats()
            self._stats_at = now
        if now - self._purged_at >= PURGE_SECONDS:
            # Every instance may do it; deleting what another just deleted is harmless.
            async with self.database.unit_of_work() as session:
                await DeliveryRepository(session).purge_finished(self.settings.webhook_retention_days)
            self._purged_at = now
        # Busy while it claimed all it had room for (more may be due): else wait for a send to end.
        return bool(claimed) and len(claimed) == sum(limits.values())

    def _room(self) -> dict[uuid.UUID, int]:
        """How many deliveries to claim per endpoint: its free slots, within the free slots in all
        (endpoints take turns being first)."""
        overall, per_endpoint = self.settings.webhook_concurrency, self.settings.webhook_endpoint_concurrency
        if self.load is not None and self.load.busy():
            per_endpoint = min(BACKGROUND_CONCURRENCY, per_endpoint)
        free = overall - len(self._tasks)
        ids = list(self._targets)
        if not ids or free <= 0:
            return {}
        start = next(self._turn) % len(ids)
        limits: dict[uuid.UUID, int] = {}
        for endpoint_id in ids[start:] + ids[:start]:
            room = min(per_endpoint - self._in_flight[endpoint_id], free)
            if room > 0:
                limits[endpoint_id] = room
                free -= room
            if free <= 0:
                break
        return limits

    def _start(self, target: _Target, delivery: Claimed, lease_id: uuid.UUID) -> None:
        self._in_flight[target.id] += 1
        task = asyncio.create_task(self._send(target, delivery, lease_id), name="webhook-send")
        self._tasks.add(task)

    async def _send(self, target: _Target, delivery: Claimed, lease_id: uuid.UUID) -> None:
        try:
            outcome = await self._attempt(target, delivery, lease_id)
            self._outcomes.append(outcome)
            DELIVERIES.labels(
                "delivered"
                if outcome.status == DELIVERED
                else "failed"
                if outcome.status == FAILED
                else "retried"
            ).inc()
        finally:
            self._in_flight[target.id] -= 1
            self._tasks.discard(asyncio.current_task())
            self._wake.set()

    async def _attempt(self, target: _Target, delivery: Claimed, lease_id: uuid.UUID) -> Outcome:
        now = datetime.now(UTC)
        message_id = str(delivery.event_id)
        body = delivery.body.encode()
        headers = [
            *HEADERS,
            (b"webhook-id", message_id.encode()),
            (b"webhook-timestamp", str(int(now.timestamp())).encode()),
            (b"webhook-signature", target.signer(now).signature(message_id, now, body).encode()),
        ]
        status_code: int | None = None
        error: str | None = None
        try:
            if target.insecure_refused:
                raise TargetRefused("the URL must use https")
            with send_span(
                "webhook send", target.host, target.port, {ENDPOINT_ATTRIBUTE: str(target.id)}
            ) as span:
                async with (
                    asyncio.timeout(self.settings.webhook_timeout_seconds),
                    target.pool.stream("POST", target.url, content=body, headers=headers) as answer,
                ):
                    status_code = answer.status
                    if span is not None:
                        span.set_attribute("http.response.status_code", status_code)
                    read = 0
                    async for chunk in answer.aiter_stream():
                        read += len(chunk)
                        if read > MAX_ANSWER_BYTES:
                            break
        except TargetRefused as exc:
            error = f"target not allowed: {exc}"
        except TimeoutError:
            error = f"no answer within {self.settings.webhook_timeout_seconds:g} s"
        except (*SEND_ERRORS, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # never a delivery left leased for ever by a surprise: a failed try
            logger.warning("webhook send failed unexpectedly", exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
        if status_code is not None and 200 <= status_code < 300:
            return Outcome(delivery.id, lease_id, DELIVERED, now, status_code, None)
        if error is None:
            error = f"answered {status_code}"
        schedule = self.settings.webhook_retry_schedule
        if delivery.attempts > len(schedule):
            logger.warning("webhook delivery failed for good", extra={"delivery_id": str(delivery.id)})
            return Outcome(delivery.id, lease_id, FAILED, now, status_code, error[:500])
        retry_at = now + timedelta(seconds=schedule[delivery.attempts - 1])
        return Outcome(delivery.id, lease_id, PENDING, retry_at, status_code, error[:500])

    async def _idle(self, seconds: float) -> None:
        """Wait until a send ends, the poll interval passes, or the loop is stopped. After a send
        ends, a moment more: the sends that end meanwhile are recorded (and their slots refilled) by
        the same pass, rather than a transaction each."""
        waiting = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self.pause(seconds))]
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in waiting:
                future.cancel()
        # Until half the sends under way have ended, or a few milliseconds at most.
        in_flight = len(self._tasks)
        for _ in range(COALESCE_STEPS):
            if not self._wake.is_set() or self.stopping or len(self._tasks) <= in_flight // 2:
                break
            await asyncio.sleep(COALESCE_STEP_SECONDS)

    async def _refresh_endpoints(self) -> None:
        async with self.database.read_sessions() as session:
            endpoints = await EndpointRepository(session).list_active()
        seen = set()
        for endpoint in endpoints:
            seen.add(endpoint.id)
            known = self._targets.get(endpoint.id)
            if known is not None and known.updated_at == endpoint.updated_at:
                continue
            try:
                target = _Target(endpoint, self.seal, self.settings)
            except SecretBoxError:
                logger.error(
                    "a webhook secret does not open with this JWT_SECRET_KEY: endpoint skipped",
                    extra={"endpoint_id": str(endpoint.id)},
                )
                continue
            if known is not None:
                self._retired.append(known)
            self._targets[endpoint.id] = target
        for endpoint_id in set(self._targets) - seen:
            self._retired.append(self._targets.pop(endpoint_id))

    async def _refresh_stats(self) -> None:
        async with self.database.read_sessions() as session:
            backlog = await DeliveryRepository(session).backlog()
        now = datetime.now(UTC)
        shown = {str(endpoint_id) for endpoint_id, _, _ in backlog}
        # An endpoint whose backlog drained reads 0 (prometheus_client's multiprocess mode, which
        # `shop serve` runs, cannot clear a gauge's labels).
        for gone in self._shown_endpoints - shown:
            BACKLOG.labels(gone).set(0)
            OLDEST_PENDING_AGE.labels(gone).set(0)
        self._shown_endpoints = shown
        for endpoint_id, count, oldest in backlog:
            BACKLOG.labels(str(endpoint_id)).set(count)
            OLDEST_PENDING_AGE.labels(str(endpoint_id)).set(max(0.0, (now - oldest).total_seconds()))

    async def _finish_up(self) -> None:
        """On stop: the sends under way end (each within the timeout) and are recorded."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._outcomes:
            try:
                async with self.database.unit_of_work() as session:
                    await DeliveryRepository(session).finish(self._outcomes)
                self._outcomes = []
            except Exception:  # their leases end and they are sent again: at least once
                logger.warning("webhook outcomes not recorded at stop", exc_info=True)
        for target in [*self._targets.values(), *self._retired]:
            with contextlib.suppress(Exception):
                await target.pool.aclose()
