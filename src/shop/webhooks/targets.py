"""Where webhooks may go (server-side request forgery): a target must be a public address.

The rule is checked twice: when an endpoint is saved (`check_url`), and at every connection the
dispatcher opens (`GuardedBackend`), after resolving the name — and the connection goes to the very
address that was checked, so a name that resolves to a public address at the first look and to a
private one at the second (DNS rebinding) cannot slip through. Reused keep-alive connections were
checked when they were opened."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
from httpcore._backends.auto import AutoBackend
from httpcore._utils import is_socket_readable

from shop.core.config import Settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """A target that is not a public address (or does not resolve)."""


def refused_address(address: IpAddress) -> bool:
    """Loopback, private, link-local, multicast, unspecified or reserved — IPv4 inside IPv6 too."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


async def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address `host` resolves to (an address literal is itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # unknown, or not a name at all
        raise TargetRefused(f"{host[:100]} does not resolve") from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def public_addresses(host: str, port: int) -> list[IpAddress]:
    """The addresses of `host`, all of them public; else TargetRefused."""
    addresses = await resolve(host, port)
    if not addresses:
        raise TargetRefused(f"{host[:100]} does not resolve")
    for address in addresses:
        if refused_address(address):
            raise TargetRefused(f"{host[:100]} is or resolves to a non-public address")
    return addresses


def port_of(scheme: str, port: int | None) -> int:
    """The port a URL of `scheme` connects to: its own, or the scheme's default."""
    return port or (443 if scheme == "https" else 80)


async def check_url(url: str, settings: Settings) -> str | None:
    """Why `url` may not receive webhooks, or None when it may."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed IPv6 literal, a port out of range
        return "The URL is not valid."
    if parts.scheme not in ("http", "https") or not host:
        return "The URL must be an absolute http(s) URL."
    if (
        parts.scheme != "https"
        and settings.environment == "production"
        and not settings.webhook_allow_insecure
    ):
        return "The URL must use https."
    if settings.webhook_allow_private_targets:
        return None
    try:
        await public_addresses(host, port_of(parts.scheme, port))
    except TargetRefused as exc:
        return f"{exc}; webhooks go to public addresses only."
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving each new connection's host itself: it refuses a
    non-public address (unless allowed) and connects to the address it checked. TLS still names the
    host (SNI, certificate), as httpcore passes it separately."""

    def __init__(self, *, allow_private: bool) -> None:
        self._backend = AutoBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._allow_private:
            addresses = await resolve(host, port)
        else:
            addresses = await public_addresses(host, port)
        stream = await self._backend.connect_tcp(
            str(addresses[0]),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )
        return _Stream(stream, stream.get_extra_info("socket"))

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover  (webhooks go over TCP)
        raise TargetRefused("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    """A connection's stream, answering httpcore's `is_readable` from the socket it keeps.

    httpcore asks it of every idle connection of a pool each time a request starts or ends (an idle
    connection whose socket is readable was closed by the receiver). Through AnyIO each answer built
    the dict of the socket's attributes and asked the kernel for the peer's address: a fifth of the
    dispatcher's CPU per message with 16 connections to one endpoint (py-spy)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, sock: socket.socket | None) -> None:
        self._stream = stream
        self._socket = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        # TLS runs over the same socket: readable there is what httpcore asked of it before.
        secured = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _Stream(secured, self._socket)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_socket_readable(self._socket)
        return self._stream.get_extra_info(info)
