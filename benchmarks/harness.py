"""Processes under test, the load generator (wrk) and the latency probe.

Everything here talks to servers over loopback TCP: the harness itself only starts processes, waits
for wrk, and (during a login storm) sends a few probe requests a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).resolve().parent / "lua"
WORK = ROOT / ".data" / "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cores() -> int:
    return len(os.sched_getaffinity(0))


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def http_json(url: str, body: Mapping[str, object] | None = None, token: str | None = None) -> object:
    """One request with the standard library (setup only, never measured)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


@dataclass
class Server:
    """One server process (shop or a ceiling), started with its own environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    port: int
    ready_path: str = "/health/ready"
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0
    log: Path = field(default_factory=Path)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> Server:
        WORK.mkdir(parents=True, exist_ok=True)
        self.log = WORK / f"{self.name}.log"
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                list(self.argv), cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=log
            )
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{tail}")
            if http_status(self.base + self.ready_path, timeout=1) == 200:
                self.startup_seconds = time.perf_counter() - started
                return self
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"{self.name} did not answer {self.ready_path} within {timeout} s")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server itself, or its worker children."""
        assert self.process is not None
        pid = self.process.pid
        children = _children(pid)
        workers = [child for child in children if "multiprocessing" in _cmdline(child)]
        workers = [child for child in workers if "resource_tracker" not in _cmdline(child)]
        return workers or [pid]

    def rss_mb(self) -> list[float]:
        return [_rss_kb(pid) / 1024 for pid in self.worker_pids()]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class CpuUse:
    """Cores used over a run (CPU seconds ÷ wall seconds, from /proc): the workers' event-loop
    threads, their other threads (argon2's), and every PostgreSQL process of the machine."""

    loops: float
    others: float
    postgres: float


class CpuMeter:
    """Started before a run and read after it (`CpuUse`)."""

    def __init__(self, server: Server) -> None:
        self.pids = server.worker_pids()
        self.started = time.perf_counter()
        self.before = self._ticks()

    def _ticks(self) -> tuple[int, int, int]:
        loops = others = 0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    ticks = _stat_ticks(task / "stat")
                    if task.name == str(pid):  # the main thread runs the event loop
                        loops += ticks
                    else:
                        others += ticks
        postgres = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                        postgres += _stat_ticks(entry / "stat")
        return loops, others, postgres

    def read(self) -> CpuUse:
        after = self._ticks()
        seconds = (time.perf_counter() - self.started) * os.sysconf("SC_CLK_TCK")
        loops, others, postgres = ((a - b) / seconds for a, b in zip(after, self.before, strict=True))
        return CpuUse(loops, others, postgres)


def _stat_ticks(path: Path) -> int:
    """utime + stime of a /proc stat file (fields 14 and 15; the name before them may hold spaces)."""
    fields = path.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(child) for child in text]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def shop_server(name: str, database_url: str, workers: int, env: Mapping[str, str] | None = None) -> Server:
    """`shop serve` as an operator runs it, plus what a benchmark needs (no rate limits)."""
    port = free_port()
    data_dir = WORK / f"data-{name}"
    return Server(
        name=name,
        argv=[sys.executable, "-m", "shop", "serve", "--port", str(port), "--workers", str(workers)],
        env={
            "DATABASE_URL": database_url,
            "ENVIRONMENT": "development",
            "RATE_LIMIT_ENABLED": "false",
            "JWT_SECRET_KEY": BENCH_SECRET,
            "DATA_DIR": str(data_dir),
            "REDIS_URL": "",
            "SMTP_HOST": "",
            # As many connections at most as the ceiling's pool (POOL_SIZE plus as many in overflow).
            "DB_POOL_SIZE": str(2 * POOL_SIZE),
            **(env or {}),
        },
        port=port,
    )


def bare_server(name: str, database_url: str, workers: int) -> Server:
    """The ceilings' app on the same stack shop runs on (uvicorn; uvloop and httptools when present)."""
    port = free_port()
    return Server(
        name=name,
        argv=[
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={"BENCH_DATABASE_URL": database_url, "BENCH_POOL_SIZE": str(POOL_SIZE)},
        port=port,
        ready_path="/hello",
    )


# The same pool for shop and the ceiling (and small: several servers share one PostgreSQL).
POOL_SIZE = 5

BENCH_SECRET = "benchmark-only secret, not for production " + "x" * 16


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def wrk(
    base: str,
    script: str,
    args: Sequence[str] = (),
    *,
    seconds: float,
    connections: int,
    threads: int = 2,
    env: Mapping[str, str] | None = None,
) -> WrkResult:
    """One wrk run; 4xx/5xx answers and socket errors are counted in `errors`."""
    threads = max(1, min(threads, connections))
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA / script),
        base,
        "--",
        *args,
    ]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "BENCH_LUA_DIR": str(LUA), **(env or {})},
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("BENCH_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({' '.join(argv)}):\n{text}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(int(data[key]) for key in ("connect", "read", "write", "status", "timeout"))
    if errors:
        # Kept and shown in the table (a shared PostgreSQL may refuse connections now and then);
        # a figure with errors is flagged, never silently averaged in.
        print(f"    wrk saw {errors} errors on {script}: {data}", flush=True)
    return WrkResult(
        requests=int(data["requests"]),
        seconds=int(data["duration_us"]) / 1e6,
        errors=errors,
        p50_ms=int(data["p50_us"]) / 1000,
        p90_ms=int(data["p90_us"]) / 1000,
        p99_ms=int(data["p99_us"]) / 1000,
    )


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit(
            "make bench needs wrk, the HTTP load generator: `sudo apt-get install wrk` (Debian, Ubuntu) "
            "or `brew install wrk` (macOS); see README.md, Benchmarks."
        )


class Probe:
    """An open-loop prober: `rate` GETs a second on fresh connections, each sent on schedule whether
    or not the previous one answered (as a Kubernetes probe does), latency measured per request."""

    def __init__(self, port: int, path: str = "/health/live", rate: float = 20.0) -> None:
        self.port, self.path, self.rate = port, path, rate
        self.latencies: list[float] = []
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def _one(self) -> None:
        request = f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(request)
            await writer.drain()
            response = await reader.read()
            writer.close()
            if not response.startswith(b"HTTP/1.1 200"):
                self.failures += 1
                return
        except OSError:
            self.failures += 1
            return
        self.latencies.append((time.perf_counter() - started) * 1000)

    async def _run(self) -> None:
        interval = 1 / self.rate
        next_at = time.perf_counter()
        while True:
            task = asyncio.create_task(self._one())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> tuple[float, float]:
        """(p50, p99) in ms."""
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._pending:
            await asyncio.wait(self._pending, timeout=30)
        if self.failures:
            raise SystemExit(f"the {self.path} probe saw {self.failures} failures")
        return percentile(self.latencies, 50), percentile(self.latencies, 99)


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
