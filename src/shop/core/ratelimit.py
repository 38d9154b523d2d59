"""Rate limits on slowapi's limiter (the `limits` library): memory by default, Redis when REDIS_URL is
set so limits hold across workers and instances. While Redis is unreachable each process counts in
its own memory instead (docs/RELIABILITY.md: never fail open, never fail the request). The key is the client address; X-Forwarded-For is
believed only from TRUSTED_PROXIES."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from limits import parse
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from limits.strategies import RateLimiter as Strategy
from slowapi import Limiter

from shop.core.config import Settings
from shop.core.conflicts import once
from shop.core.errors import RateLimited

logger = logging.getLogger("shop.ratelimit")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 clients are limited per /64, the smallest network an ISP hands to one subscriber.
IPV6_LIMIT_PREFIX = 64


def parse_ip(value: str) -> IPAddress | None:
    """An address from a peer or X-Forwarded-For entry (`1.2.3.4:5555` and `[::1]:80` too), or None."""
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener shows IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def limit_key(ip: IPAddress | None) -> str:
    if ip is None:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_LIMIT_PREFIX), strict=False))
    return str(ip)


def _networks(entries: list[str]) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = settings.rate_limit_enabled
        self._trusted = _networks(settings.trusted_proxies)
        self._remote_storage = settings.redis_url is not None
        # What a lost Redis raises. The client is imported only when Redis is configured: with its
        # commands and its OpenTelemetry hooks it costs a worker about 20 MB that nothing else uses.
        self._remote_errors: tuple[type[Exception], ...] = (StorageError, OSError)
        if settings.redis_url:
            from redis.exceptions import RedisError

            self._remote_errors = (RedisError, *self._remote_errors)
        # An unreachable Redis must cost a request a second at most, not the OS's TCP timeout.
        options: dict[str, Any] = (
            {"socket_connect_timeout": 1, "socket_timeout": 1} if settings.redis_url else {}
        )
        self._slowapi = Limiter(
            key_func=self.client_address,
            storage_uri=settings.redis_url or "memory://",
            strategy="moving-window",
            key_prefix="shop",
            enabled=settings.rate_limit_enabled,
            storage_options=options,
        )
        self._strategy = self._slowapi.limiter
        # Where counts go while Redis is down: this process's memory, as without REDIS_URL.
        self._fallback: Strategy = MovingWindowRateLimiter(MemoryStorage())
        self._redis_down = False

    def _is_trusted(self, ip: IPAddress) -> bool:
        return any(ip in network for network in self._trusted)

    def client_ip(self, request: Request) -> IPAddress | None:
        """The client's address: the peer, or from X-Forwarded-For when the peer is a trusted proxy."""
        peer = parse_ip(request.client.host) if request.client else None
        if peer is None or not self._trusted or not self._is_trusted(peer):
            return peer
        # Every header line, in order: a proxy may add a line of its own instead of appending to the
        # client's, and the client's line must not hide the proxy's.
        forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
        hops = [part.strip() for part in forwarded.split(",")]
        # Walk from the nearest hop outwards; the first address not ours is the client. A hop that
        # is not an address ends the walk: nothing beyond it can be believed.
        client = peer
        for hop in reversed([part for part in hops if part]):
            ip = parse_ip(hop)
            if ip is None:
                break
            client = ip
            if not self._is_trusted(ip):
                break
        return client

    def client_address(self, request: Request) -> str:
        """The key of the caller's per-address limits: its address, or for IPv6 its /64 network
        (whoever holds one /64 holds 2^64 addresses)."""
        return limit_key(self.client_ip(request))

    async def hit(self, limit: str, scope: str, key: str) -> None:
        """Count one request against `limit` for (scope, key); raise RateLimited when over. Once per
        request, however often its transaction is tried (`shop.core.conflicts`)."""
        if not self.enabled:
            return
        await once(("rate-limit", limit, scope, key), lambda: self._hit(limit, scope, key))

    async def _hit(self, limit: str, scope: str, key: str) -> None:
        item = parse(limit)
        # Keys are hashed: an email address never lands in Redis in clear text.
        digest = hashlib.sha256(key.lower().encode()).hexdigest()[:32]
        strategy = self._strategy
        if self._remote_storage:
            try:
                allowed = await asyncio.to_thread(strategy.hit, item, scope, digest)
                stats = (
                    None
                    if allowed
                    else await asyncio.to_thread(strategy.get_window_stats, item, scope, digest)
                )
                self._redis_back()
            except self._remote_errors as exc:
                self._redis_lost(exc)
                strategy = self._fallback
                allowed = strategy.hit(item, scope, digest)
                stats = None if allowed else strategy.get_window_stats(item, scope, digest)
        else:
            allowed = strategy.hit(item, scope, digest)
            stats = None if allowed else strategy.get_window_stats(item, scope, digest)
        if stats is not None:
            raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))

    def _redis_lost(self, exc: Exception) -> None:
        if not self._redis_down:  # once per outage, not once per request
            logger.warning(
                "Redis unreachable: rate limits count in this process until it is back (%s)",
                type(exc).__name__,
            )
        self._redis_down = True

    def _redis_back(self) -> None:
        if self._redis_down:
            logger.warning("Redis reachable again: rate limits are shared again")
        self._redis_down = False

    async def hit_address(self, request: Request, limit: str, scope: str) -> None:
        """Count one request of the calling address against `limit`."""
        await self.hit(limit, scope, self.client_address(request))

    def reset(self) -> None:
        self._slowapi.reset()
        self._fallback.storage.reset()


def limit_by_address(scope: str, limit: Callable[[Settings], str]) -> Callable[[Request], Awaitable[None]]:
    """A route dependency counting the calling address against `limit(settings)` under `scope`."""

    async def check(request: Request) -> None:
        limiter: RateLimiter = request.app.state.rate_limiter
        await limiter.hit_address(request, limit(limiter.settings), scope)

    return check
