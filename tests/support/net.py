"""Ports for servers the tests start, and how long a test waits for them.

The waits are safety nets against a hang, never a measure of speed: generous, because a machine
busy with other work (CI's two cores running two test workers) starts a server slowly."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# A server started by a test (shop serve, uvicorn, an embedded PostgreSQL) answers within this.
STARTUP_SECONDS = 180.0
# A mail, a file or a retry that a background task produces shows up within this.
DELIVERY_SECONDS = 60.0
# A server stopped by a test exits within this; a CLI command run by a test ends within this.
EXIT_SECONDS = 120.0


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port nothing listens on, below the kernel's ephemeral range: a port from that range (what
    binding to port 0 gives) may be taken by any outgoing connection — to PostgreSQL, Redis — before
    the test's server binds it; one below it only by another server choosing the same port."""
    low, _ = _ephemeral_range()
    for _ in range(100):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
