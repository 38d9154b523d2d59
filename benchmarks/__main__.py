"""`make bench`: shop and its ceilings under wrk, every figure a ratio to a ceiling from the same run.

    python -m benchmarks [--quick] [--scale-1m] [--seconds S] [--rounds R] [--no-write]

Phases: 1 worker, 2 workers, signing algorithms (those shop accepts), 1,000,000 users (--scale-1m),
memory, start-up, database round trips per request, a profile, and the in-process JWT costs.
Within a phase every server runs side by side and the rounds alternate A/B/A/B over all targets, so
drift of this shared machine lands on every target alike. The table goes to stdout and, unless
--no-write, to docs/PERFORMANCE.md with a plot in docs/performance.png.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import roundtrips

from benchmarks import data, jwt_costs, passkeys, profile, report, webhooks
from benchmarks.harness import (
    WORK,
    CpuMeter,
    CpuUse,
    Probe,
    Server,
    WrkResult,
    bare_server,
    cores,
    http_json,
    median,
    require_wrk,
    shop_server,
    wrk,
)

BURST = 10_000  # webhook messages recorded at once before each run of the drain phase
TOKEN_USERS = 64  # users whose tokens drive the reads (each has 5 addresses)
# One-time codes made for each run of the exchange: more than a run spends (each works once).
EXCHANGE_CODES = 60_000
LOGIN_USERS = 1000  # the login storm walks over this many accounts
# Not yet verified accounts, u{UNVERIFIED[0]}…: the "known email" of /resend-verification.
UNVERIFIED = (900_001, 900_500)


@dataclass
class Options:
    seconds: float
    rounds: int
    connections: int
    scale_1m: bool
    memory_requests: tuple[int, int]
    write: bool
    phases: set[str]


@dataclass
class Figure:
    """One target measured over the rounds of a phase."""

    phase: str
    name: str
    ceiling: str | None  # the name of the target (or computed ceiling) it is divided by
    runs: list[WrkResult] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    probe_p99: list[float] = field(default_factory=list)
    probe_p50: list[float] = field(default_factory=list)
    probe_path: str = "/health/live"
    cpu: list[CpuUse] = field(default_factory=list)  # per run, for a target that asks (`Target.cpu`)

    @property
    def rps(self) -> float:
        return median([run.rps for run in self.runs])

    @property
    def p50(self) -> float:
        return median([run.p50_ms for run in self.runs])

    @property
    def p99(self) -> float:
        return median([run.p99_ms for run in self.runs])

    @property
    def ratio(self) -> float | None:
        return median(self.ratios) if self.ratios else None


@dataclass
class Target:
    name: str
    server: Server
    script: str
    args: list[str]
    ceiling: str | None = None
    connections: int | None = None
    threads: int = 2
    probe: bool = False
    probe_path: str = "/health/live"  # what the open-loop probe asks during the run
    env: dict[str, str] = field(default_factory=dict)
    before: Callable[[], Awaitable[list[str]]] | None = None  # fresh arguments for each run
    settle: float = 0.0  # seconds to wait afterwards, while the server finishes what wrk left
    after: Callable[[], Awaitable[None]] | None = None  # run after each run (e.g. clear a backlog)
    cpu: bool = False  # measure where the machine's CPU goes during each run (`CpuMeter`)


# -- request files ------------------------------------------------------------------------------


def request_file(name: str, lines: list[tuple[str, str, str | None, dict[str, object] | None]]) -> str:
    path = WORK / f"{name}.requests"
    with path.open("w") as handle:
        for method, target, token, body in lines:
            handle.write(f"{method}\t{target}\t{token or '-'}\t{json.dumps(body) if body else '-'}\n")
    return str(path)


def login(server: Server, number: int) -> dict[str, object]:
    answer = http_json(
        server.base + "/api/v1/auth/login", {"email": data.email(number), "password": data.PASSWORD}
    )
    assert isinstance(answer, dict)
    return answer


async def tokens_for(server: Server, numbers: list[int]) -> list[dict[str, object]]:
    return [await asyncio.to_thread(login, server, number) for number in numbers]


# -- the phases ---------------------------------------------------------------------------------


# How long each hashing thread of the argon2 ceiling hashes and verifies, a round (about 40 of each
# per thread on 2 cores): fewer measured the machine's noise rather than argon2.
ARGON2_SECONDS = 2.0
# How long each target of a phase is run, uncounted, before the first round (`Bench.warm_up`).
WARM_UP_SECONDS = 1.0


class Bench:
    def __init__(self, options: Options, url: str) -> None:
        self.options = options
        self.url = url
        self.figures: list[Figure] = []
        self.notes: dict[str, object] = {}
        self.nonce = secrets.token_hex(3)
        self.user_ids: dict[int, str] = {}

    def say(self, text: str) -> None:
        print(text, flush=True)

    async def argon2_ms(self, parallel: int, seconds: float = ARGON2_SECONDS) -> tuple[float, float]:
        """Median (hash ms, verify ms) with shop's parameters, `parallel` at once in this process
        (argon2 releases the GIL): with every core hashing, each hash is slower than alone (memory
        bandwidth, shared caches, frequency), and the login ceiling is what all cores together do.
        Each thread alternates hashes and verifies for `seconds`."""
        from concurrent.futures import ThreadPoolExecutor

        from passlib.context import CryptContext

        from shop.core.config import Settings

        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=settings.argon2_memory_cost,
            argon2__rounds=settings.argon2_time_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        stored = context.hash(data.PASSWORD)

        def timed(work: Callable[[], object]) -> float:
            started = time.perf_counter()
            work()
            return time.perf_counter() - started

        def one_slot() -> tuple[list[float], list[float]]:
            hashes: list[float] = []
            verifies: list[float] = []
            until = time.perf_counter() + seconds
            while time.perf_counter() < until or len(verifies) < 3:
                hashes.append(timed(lambda: context.hash(data.PASSWORD)))
                verifies.append(timed(lambda: context.verify(data.PASSWORD, stored)))
            return hashes, verifies

        with ThreadPoolExecutor(parallel) as pool:
            slots = await asyncio.gather(
                *(asyncio.wrap_future(pool.submit(one_slot)) for _ in range(parallel))
            )
        hashes = [value for slot in slots for value in slot[0]]
        verifies = [value for slot in slots for value in slot[1]]
        return statistics.median(hashes) * 1000, statistics.median(verifies) * 1000

    async def run_phase(
        self,
        phase: str,
        targets: list[Target],
        *,
        workers: int,
        idle_probe_of: Server | None = None,
        order: Callable[[int], list[Target]] | None = None,
    ) -> dict[str, Figure]:
        """Every target once a round, in the order given, or in `order(round_number)`'s."""
        figures = {
            target.name: Figure(phase, target.name, target.ceiling, probe_path=target.probe_path)
            for target in targets
        }
        computed = {
            "ceiling: argon2 verify": Figure(phase, "ceiling: argon2 verify", None),
            "ceiling: argon2 hash": Figure(phase, "ceiling: argon2 hash", None),
        }
        idle = Figure(phase, "GET /health/live p99, idle", None)
        parallel = min(workers, cores())

        async def measure_argon2(opening: tuple[float, float] | None = None) -> tuple[float, float]:
            """The round's ceilings; with `opening` (the round's first measure, before its argon2
            targets), the mean of that one and this one, after them."""
            hash_ms, verify_ms = await self.argon2_ms(parallel)
            if opening is not None:
                hash_ms, verify_ms = (opening[0] + hash_ms) / 2, (opening[1] + verify_ms) / 2
                for figure in computed.values():
                    figure.runs.pop()
            # Login ceiling: min(workers, cores) verifies at a time, each taking verify_ms.
            computed["ceiling: argon2 verify"].runs.append(
                WrkResult(round(parallel * 1000 / verify_ms * 100), 100, 0, verify_ms, verify_ms, verify_ms)
            )
            computed["ceiling: argon2 hash"].runs.append(
                WrkResult(round(parallel * 1000 / hash_ms * 100), 100, 0, hash_ms, hash_ms, hash_ms)
            )
            return hash_ms, verify_ms

        await self.warm_up(targets)
        for round_number in range(1, self.options.rounds + 1):
            self.say(f"  round {round_number}/{self.options.rounds}")
            ordered = targets if order is None else order(round_number)
            # The argon2 ceiling is measured right before the round's first run compared with it and
            # right after its last, and is the mean of the two: this machine's hashing speed drifts
            # within a minute (the in-process verify took 18.4, 19.8 and 20.9 ms 15 s apart, while
            # shop's hashing threads spent a steady 20.2-20.5 ms of CPU on each login in the storms
            # between), and a round's read targets take minutes.
            compared = [t.name for t in ordered if (t.ceiling or "").startswith("ceiling: argon2")]
            opening: tuple[float, float] | None = None
            if not compared:
                await measure_argon2()
            if idle_probe_of is not None:
                probe = Probe(idle_probe_of.port)
                probe.start()
                await asyncio.sleep(min(self.options.seconds, 5))
                p50, p99 = await probe.stop()
                idle.probe_p50.append(p50)
                idle.probe_p99.append(p99)
            this_round: dict[str, WrkResult] = {}
            for target in ordered:
                if compared and target.name == compared[0]:
                    opening = await measure_argon2()
                args = target.args if target.before is None else await target.before()
                probe = Probe(target.server.port, target.probe_path) if target.probe else None
                if probe:
                    probe.start()
                meter = CpuMeter(target.server) if target.cpu else None
                result = await self.wrk_of(target, args, self.options.seconds)
                figure = figures[target.name]
                figure.runs.append(result)
                if meter is not None:
                    figure.cpu.append(meter.read())
                if probe:
                    p50, p99 = await probe.stop()
                    figure.probe_p50.append(p50)
                    figure.probe_p99.append(p99)
                this_round[target.name] = result
                if target.settle:
                    await asyncio.sleep(target.settle)
                if target.after is not None:
                    await target.after()
                if compared and target.name == compared[-1]:
                    await measure_argon2(opening)
                extra = f", {target.probe_path} p99 {figure.probe_p99[-1]:.1f} ms" if probe else ""
                self.say(
                    f"    {target.name:<44} {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms{extra}"
                )
            for target in targets:
                if target.ceiling is None:
                    continue
                ceiling = this_round.get(target.ceiling) or computed[target.ceiling].runs[-1]
                figures[target.name].ratios.append(this_round[target.name].rps / ceiling.rps)
        for name, figure in computed.items():
            figure.ratios = []
            figures[name] = figure
        if idle.probe_p99:
            figures[idle.name] = idle
        self.figures += figures.values()
        return figures

    async def wrk_of(self, target: Target, args: list[str], seconds: float) -> WrkResult:
        """One wrk run of `target` with `args`, for `seconds`."""
        return await wrk(
            target.server.base,
            target.script,
            args,
            seconds=seconds,
            connections=target.connections or self.options.connections,
            threads=target.threads,
            env=target.env,
        )

    async def warm_up(self, targets: list[Target]) -> None:
        """Every target with fixed arguments, for WARM_UP_SECONDS each, uncounted, shop's and the
        ceilings' alike: the first run of a fresh server also opened its pool's connections (a
        /metrics probe waited up to 146 ms in the first tenth of a second, 43-52 ms after a warm-up)."""
        for target in targets:
            if target.before is not None:
                continue
            await self.wrk_of(target, target.args, WARM_UP_SECONDS)
            if target.settle:
                await asyncio.sleep(target.settle)

    def read_targets(self, shop: Server, bare: Server, tokens: list[str], ids: list[str]) -> list[Target]:
        me = request_file(f"me-{shop.name}", [("GET", "/api/v1/auth/me", t, None) for t in tokens])
        prof = request_file(f"profile-{shop.name}", [("GET", "/api/v1/profile", t, None) for t in tokens])
        addresses = request_file(
            f"addresses-{shop.name}", [("GET", "/api/v1/addresses", t, None) for t in tokens]
        )
        rows = request_file(f"row-{bare.name}", [("GET", f"/row/{i}", None, None) for i in ids])
        hello = request_file("hello", [("GET", "/hello", None, None)])
        convert = request_file(
            "convert", [("GET", "/api/v1/convert?from=EUR&to=GBP&amount=125.50", None, None)]
        )
        countries = request_file("countries", [("GET", "/api/v1/countries?lang=de", None, None)])
        address_format = request_file(
            "address-format", [("GET", "/api/v1/countries/DE/address-format?lang=de", None, None)]
        )
        money = request_file(
            "money-format",
            [
                (
                    "GET",
                    f"/api/v1/money/format?amount={amount}&currency={currency}&locale={locale}",
                    None,
                    None,
                )
                for amount, currency, locale in (
                    ("1234.50", "CHF", "de-CH"),
                    ("1234.50", "EUR", "fr-FR"),
                    ("1234567.50", "INR", "en-IN"),
                    ("1234", "JPY", "ja"),
                )
            ],
        )
        return [
            Target("ceiling: bare GET /hello", bare, "requests.lua", [hello]),
            Target("ceiling: session.get one row", bare, "requests.lua", [rows]),
            Target("GET /api/v1/auth/me", shop, "requests.lua", [me], "ceiling: session.get one row"),
            Target("GET /api/v1/profile", shop, "requests.lua", [prof], "ceiling: session.get one row"),
            Target(
                "GET /api/v1/addresses (5)", shop, "requests.lua", [addresses], "ceiling: session.get one row"
            ),
            # Reference data answered from the process's cache: measured against the framework itself.
            Target(
                "GET /api/v1/countries?lang=de", shop, "requests.lua", [countries], "ceiling: bare GET /hello"
            ),
            Target(
                "GET /api/v1/countries/DE/address-format",
                shop,
                "requests.lua",
                [address_format],
                "ceiling: bare GET /hello",
            ),
            Target("GET /api/v1/money/format", shop, "requests.lua", [money], "ceiling: bare GET /hello"),
            Target(
                "GET /api/v1/convert (cross rate)",
                shop,
                "requests.lua",
                [convert],
                "ceiling: session.get one row",
            ),
        ]

    def refresh_target(self, shop: Server) -> Target:
        per_thread = self.options.connections // 2 + 1  # see refresh.lua

        async def fresh_chains() -> list[str]:
            answers = await tokens_for(shop, list(range(1, 2 * per_thread + 1)))
            path = WORK / f"refresh-{shop.name}.tokens"
            path.write_text("".join(f"{answer['refresh_token']}\n" for answer in answers))
            return [str(path)]

        return Target(
            "POST /api/v1/auth/refresh (chains)",
            shop,
            "refresh.lua",
            [],
            "ceiling: session.get one row",
            env={"BENCH_CHAINS_PER_THREAD": str(per_thread)},
            before=fresh_chains,
        )

    def exchange_target(self, shop: Server, ids: list[str]) -> Target:
        """Provider sign-in's last step: a one-time code and the SPA's PKCE verifier for a session
        (no password hash: a session, its refresh token and a signed access token)."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        count = EXCHANGE_CODES

        async def fresh_codes() -> list[str]:
            prefix = f"bench-{secrets.token_hex(6)}-"
            await data.add_oidc_codes(self.url, prefix, ids, count, challenge)
            body = {"code_verifier": verifier}
            path = request_file(
                f"exchange-{shop.name}",
                [
                    ("POST", "/api/v1/auth/oidc/exchange", None, {**body, "code": f"{prefix}{n}"})
                    for n in range(1, count + 1)
                ],
            )
            return [path]

        return Target(
            "POST /api/v1/auth/oidc/exchange",
            shop,
            "requests.lua",
            [],
            "ceiling: session.get one row",
            before=fresh_codes,
        )

    async def passkey_target(self, shop: Server) -> Target:
        """Passkey sign-ins, each with a challenge of its own (benchmarks/passkeys.py); one wrk thread
        walks the file once, so no assertion is sent twice."""
        authenticators = await asyncio.to_thread(
            passkeys.enrol, shop, list(range(1, passkeys.PASSKEY_USERS + 1))
        )

        async def fresh_assertions() -> list[str]:
            return [await passkeys.assertions(self.url, shop.name, authenticators)]

        return Target(
            "POST /api/v1/auth/passkeys/authenticate",
            shop,
            "requests.lua",
            [],
            "ceiling: session.get one row",
            threads=1,
            before=fresh_assertions,
        )

    def login_target(self, shop: Server, numbers: list[int], label: str = "") -> Target:
        body = request_file(
            f"login-{shop.name}",
            [
                ("POST", "/api/v1/auth/login", None, {"email": data.email(n), "password": data.PASSWORD})
                for n in numbers
            ],
        )
        # Enough logins in flight to keep every hashing thread busy; more would only lengthen the
        # queue (and wrk counts only the answers that arrive within the run).
        return Target(
            f"POST /api/v1/auth/login storm{label}",
            shop,
            "requests.lua",
            [body],
            "ceiling: argon2 verify",
            connections=8,
            probe=True,
            settle=2.0,
            cpu=True,
        )

    async def prepare_shop(self, shop: Server) -> tuple[list[str], list[str]]:
        answers = await tokens_for(shop, list(range(1, TOKEN_USERS + 1)))
        tokens = [str(answer["access_token"]) for answer in answers]
        ids = [str(answer["user"]["id"]) for answer in answers]  # type: ignore[index]
        return tokens, ids

    async def phase_workers(self, workers: int) -> None:
        self.say(f"\n== {workers} worker{'s' if workers > 1 else ''}: shop and the ceilings side by side")
        shop = shop_server(f"shop-{workers}w", self.url, workers).start()
        bare = bare_server(f"bare-{workers}w", self.url, workers).start()
        # The JWKS of an asymmetric algorithm (HS256, the default, publishes no key).
        signer = shop_server(f"shop-{workers}w-rs256", self.url, workers, {"JWT_ALGORITHM": "RS256"})
        if workers == 1:
            signer.start()
        try:
            tokens, ids = await self.prepare_shop(shop)
            targets = self.read_targets(shop, bare, tokens, ids)
            if workers == 1:
                targets.insert(
                    2,
                    Target(
                        "GET /health/live",
                        shop,
                        "requests.lua",
                        [request_file("live", [("GET", "/health/live", None, None)])],
                        "ceiling: bare GET /hello",
                    ),
                )
                jwks = request_file("jwks", [("GET", "/.well-known/jwks.json", None, None)])
                targets.insert(
                    8,
                    Target(
                        "GET /.well-known/jwks.json (RS256)",
                        signer,
                        "requests.lua",
                        [jwks],
                        "ceiling: bare GET /hello",
                    ),
                )
            else:
                # One scrape sums every worker's metrics: how long it takes while the reads run.
                me = next(target for target in targets if target.name == "GET /api/v1/auth/me")
                me.probe, me.probe_path = True, "/metrics"
            targets.append(self.refresh_target(shop))
            targets.append(self.exchange_target(shop, ids))
            targets.append(await self.passkey_target(shop))
            targets.append(self.login_target(shop, list(range(1, LOGIN_USERS + 1))))
            if workers == 1:
                password = data.PASSWORD.replace(" ", "-")

                async def fresh_emails(password: str = password) -> list[str]:
                    return [secrets.token_hex(4), password]  # new addresses for every run

                register = Target(
                    "POST /api/v1/auth/register",
                    shop,
                    "register.lua",
                    [],
                    "ceiling: argon2 hash",
                    connections=8,
                    settle=2.0,
                    before=fresh_emails,
                )
                targets.append(register)
                targets += self.timing_targets(shop)
            figures = await self.run_phase(
                f"{workers} worker{'s' if workers > 1 else ''}", targets, workers=workers, idle_probe_of=shop
            )
            self.notes[f"workers-{workers}"] = {name: figure.rps for name, figure in figures.items()}
        finally:
            shop.stop()
            bare.stop()
            signer.stop()

    async def phase_webhooks(self, server_url: str) -> None:
        self.say("\n== webhooks: deliveries per second, and the request path while a burst drains")
        rate, cpu = await webhooks.measure(server_url, BURST)
        self.say(f"  {rate:,.0f} messages/s to a local receiver, {cpu * 1000:.2f} ms of CPU per message")
        figures: dict[str, object] = {"messages_per_second": rate, "cpu_ms_per_message": cpu * 1000}
        self.notes["webhooks"] = figures
        backlog = webhooks.Backlog(self.url)
        await backlog.start()
        shop = shop_server("shop-webhooks", self.url, 1, {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}).start()
        bare = bare_server("bare-webhooks", self.url, 1).start()
        try:
            tokens, ids = await self.prepare_shop(shop)
            reads = self.read_targets(shop, bare, tokens, ids)
            idle = [reads[1]] + [t for t in reads if t.name in ("GET /api/v1/auth/me", "GET /api/v1/profile")]
            idle.append(self.login_target(shop, list(range(1, LOGIN_USERS + 1))))
            pairs: list[tuple[Target, Target]] = []
            for target in idle[1:]:

                async def burst(args: list[str] = target.args) -> list[str]:
                    await backlog.burst(BURST)
                    return args

                draining = Target(
                    f"{target.name}, {BURST:,} webhooks draining",
                    shop,
                    target.script,
                    [],
                    target.name,
                    connections=target.connections,
                    probe=target.probe,
                    before=burst,
                    after=backlog.clear,
                )
                pairs.append((target, draining))

            def order(round_number: int) -> list[Target]:
                # Each run right beside the one it is compared with, idle first in one round and
                # draining first in the next: the machine's speed drifts (a phase measured /auth/me falling
                # 17 % in two minutes), and runs 20 s apart took that drift for the burst's cost.
                ordered = [idle[0]]
                for pair in pairs:
                    ordered += pair if round_number % 2 else pair[::-1]
                return ordered

            targets = [idle[0]] + [target for pair in pairs for target in pair]
            await self.run_phase("1 worker, webhooks", targets, workers=1, order=order)
            figures["delivered_during_runs"] = backlog.delivered
        finally:
            shop.stop()
            bare.stop()
            await backlog.stop()

    def timing_targets(self, shop: Server) -> list[Target]:
        """Issue #8: the same ask for a known and an unknown email, one at a time (latency, not load)."""
        known = list(range(TOKEN_USERS + 1, LOGIN_USERS + 1))
        targets = []
        for path in ("password-reset-request", "resend-verification"):
            for kind, emails in (
                ("known", [data.email(n) for n in known]),
                ("unknown", [f"nobody{n}@example.com" for n in known]),
            ):
                requests = request_file(
                    f"{path}-{kind}", [("POST", f"/api/v1/auth/{path}", None, {"email": e}) for e in emails]
                )
                targets.append(
                    Target(
                        f"POST /api/v1/auth/{path} ({kind} email)",
                        shop,
                        "requests.lua",
                        [requests],
                        connections=1,
                        threads=1,
                    )
                )
        return targets

    async def phase_algorithms(self) -> None:
        from pydantic import ValidationError

        from shop.core.config import Settings

        supported = []
        for algorithm in jwt_costs.ALGORITHMS:
            try:
                Settings(_env_file=None, jwt_algorithm=algorithm)  # type: ignore[call-arg]
            except ValidationError:
                continue
            supported.append(algorithm)
        self.notes["algorithms"] = supported
        if len(supported) < 2:
            self.say(f"\n== signing algorithms: shop accepts only {supported}; end-to-end comparison skipped")
            return
        self.say(f"\n== signing algorithms end to end, 1 worker each: {', '.join(supported)}")
        servers = {a: shop_server(f"shop-{a}", self.url, 1, {"JWT_ALGORITHM": a}).start() for a in supported}
        try:
            targets = []
            for algorithm, shop in servers.items():
                tokens, _ = await self.prepare_shop(shop)
                me = request_file(f"me-{shop.name}", [("GET", "/api/v1/auth/me", t, None) for t in tokens])
                targets.append(
                    Target(
                        f"GET /api/v1/auth/me [{algorithm}]",
                        shop,
                        "requests.lua",
                        [me],
                        f"GET /api/v1/auth/me [{supported[0]}]",
                    )
                )
            for algorithm, shop in servers.items():
                target = self.login_target(shop, list(range(1, LOGIN_USERS + 1)), f" [{algorithm}]")
                target.ceiling, target.probe = f"POST /api/v1/auth/login storm [{supported[0]}]", False
                targets.append(target)
            await self.run_phase("signing algorithms", targets, workers=1)
        finally:
            for shop in servers.values():
                shop.stop()

    async def phase_scale(self) -> None:
        self.say("\n== 1,000,000 users and 2,000,000 addresses")
        hashed = await asyncio.to_thread(data.password_hash)
        seconds = await data.load_users(self.url, LOGIN_USERS + 1, UNVERIFIED[0] - 1, 2, hashed)
        seconds += await data.load_users(self.url, UNVERIFIED[1] + 1, 1_000_000, 2, hashed)
        counts = await data.count_rows(self.url)
        self.notes["load_1m_seconds"] = seconds
        self.notes["rows_1m"] = counts
        self.say(f"  loaded in {seconds:.0f} s: {counts}")
        shop = shop_server("shop-1m", self.url, 1).start()
        bare = bare_server("bare-1m", self.url, 1).start()
        try:
            tokens, ids = await self.prepare_shop(shop)
            targets = self.read_targets(shop, bare, tokens, ids)[1:5]
            step = 1_000_000 // LOGIN_USERS
            spread = [n for n in range(1, 1_000_001, step) if not UNVERIFIED[0] <= n <= UNVERIFIED[1]]
            targets.append(self.login_target(shop, spread))
            await self.run_phase("1 worker, 1M users", targets, workers=1)
        finally:
            shop.stop()
            bare.stop()

    async def phase_memory(self) -> None:
        first, last = self.options.memory_requests
        self.say(
            f"\n== memory: RSS of a fresh worker after {first:,} and {last:,} requests (the reads of the bench)"
        )
        shop = shop_server("shop-memory", self.url, 1).start()
        try:
            tokens, _ = await self.prepare_shop(shop)
            public = (
                "/health/live",
                "/api/v1/countries?lang=de",
                "/api/v1/countries/JP/address-format?lang=ja",
                "/api/v1/money/format?amount=1234.50&currency=CHF&locale=de-CH",
                "/api/v1/convert?from=EUR&to=GBP&amount=125.50",
                "/.well-known/jwks.json",
            )
            mixed = request_file(
                "memory",
                [
                    ("GET", path, t, None)
                    for t in tokens
                    for path in ("/api/v1/auth/me", "/api/v1/profile", "/api/v1/addresses")
                ]
                + [("GET", path, None, None) for path in public],
            )
            rss: dict[object, float] = {"start": max(shop.rss_mb())}
            served, rate = 0, 1000.0
            for goal in (first, last):
                # wrk runs for a duration, not a count: short runs sized by the last rate seen.
                while served < goal:
                    seconds = min(10.0, max(1.0, (goal - served) / rate))
                    result = await wrk(
                        shop.base,
                        "requests.lua",
                        [mixed],
                        seconds=seconds,
                        connections=self.options.connections,
                    )
                    served += result.requests
                    rate = max(result.rps, 1.0)
                rss[served] = max(shop.rss_mb())
                self.say(f"  after {served:,} requests: {rss[served]:.1f} MB")
            self.notes["rss"] = rss
        finally:
            shop.stop()

    async def phase_startup(self) -> None:
        self.say("\n== start-up: `shop serve` until /health/ready")
        times: dict[str, float] = {}
        shop = shop_server("shop-startup", self.url, 1)
        times["DATABASE_URL set (migrated database)"] = shop.start().startup_seconds
        shop.stop()
        data_dir = WORK / f"startup-embedded-{self.nonce}"
        env = {"DATABASE_URL": "", "DATA_DIR": str(data_dir)}
        try:
            embedded = shop_server("shop-embedded", "", 1, env)
            times["embedded PostgreSQL, first start (initdb)"] = embedded.start(timeout=300).startup_seconds
            embedded.stop()
            again = shop_server("shop-embedded", "", 1, env)
            times["embedded PostgreSQL, restart (existing data dir)"] = again.start(
                timeout=300
            ).startup_seconds
            again.stop()
        finally:
            from shop.core.embedded import EmbeddedPostgres

            base = EmbeddedPostgres(data_dir).base
            shutil.rmtree(data_dir, ignore_errors=True)
            if base != data_dir / "postgres":
                shutil.rmtree(base, ignore_errors=True)
        for name, value in times.items():
            self.say(f"  {name:<52} {value:5.2f} s")
        self.notes["startup"] = times

    async def phase_round_trips(self) -> None:
        self.say("\n== database round trips per request (counted on the wire by a proxy)")
        from sqlalchemy.engine import make_url

        parsed = make_url(self.url)
        proxy = roundtrips.CountingProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        await proxy.start()
        shop = shop_server(
            "shop-proxied", roundtrips.proxied_url(self.url, proxy.port), 1, {"MAIL_POLL_SECONDS": "3600"}
        )
        await asyncio.to_thread(shop.start)
        try:
            answer = await asyncio.to_thread(login, shop, 1)
            token = str(answer["access_token"])
            # An account of its own (not one the load phases enrol), and a fresh assertion per sign-in,
            # its challenge asked for before the count starts.
            (authenticator,) = await asyncio.to_thread(passkeys.enrol, shop, [passkeys.PASSKEY_USERS + 1])

            def passkey_assertion() -> dict[str, object]:
                options = http_json(shop.base + f"{passkeys.PATH}/authentication-options", {})
                assert isinstance(options, dict)
                return {"credential": authenticator.get(options)}

            paths: dict[
                str, tuple[str, bool, Mapping[str, object] | Callable[[], Mapping[str, object]] | None]
            ] = {
                "GET /api/v1/auth/me": ("/api/v1/auth/me", True, None),
                "GET /api/v1/profile": ("/api/v1/profile", True, None),
                "GET /api/v1/addresses": ("/api/v1/addresses", True, None),
                "GET /api/v1/convert": ("/api/v1/convert?from=EUR&to=GBP&amount=1", False, None),
                "GET /health/ready": ("/health/ready", False, None),
                "POST /api/v1/auth/login": (
                    "/api/v1/auth/login",
                    False,
                    {"email": data.email(2), "password": data.PASSWORD},
                ),
                "POST /api/v1/auth/passkeys/authenticate": (
                    f"{passkeys.PATH}/authenticate",
                    False,
                    passkey_assertion,
                ),
            }
            counts: dict[str, dict[str, object]] = {}
            for name, (path, bearer, make_body) in paths.items():
                deltas: list[int] = []
                trace: list[str] = []
                for attempt in range(8):
                    body = await asyncio.to_thread(make_body) if callable(make_body) else make_body
                    await asyncio.sleep(0.05)
                    before, mark = proxy.round_trips, len(proxy.trace)
                    await asyncio.to_thread(http_json, shop.base + path, body, token if bearer else None)
                    await asyncio.sleep(0.05)
                    if attempt >= 3:  # after the statement caches are warm
                        deltas.append(proxy.round_trips - before)
                        trace = proxy.trace[mark:]
                counts[name] = {
                    "round_trips": int(statistics.median(deltas)),
                    "statements": [s for s in trace if s != "<sync>"],
                }
                self.say(f"  {name:<40} {counts[name]['round_trips']} round trips")
            self.notes["round_trips"] = counts
        finally:
            await asyncio.to_thread(shop.stop)
            await proxy.stop()

    async def phase_profile(self) -> None:
        self.say("\n== profile of GET /api/v1/auth/me under load (py-spy)")
        shop = shop_server("shop-profile", self.url, 1).start()
        try:
            tokens, _ = await self.prepare_shop(shop)
            me = request_file("me-profile", [("GET", "/api/v1/auth/me", t, None) for t in tokens])
            seconds = max(5.0, self.options.seconds * 2)
            load = asyncio.create_task(
                wrk(
                    shop.base, "requests.lua", [me], seconds=seconds + 2, connections=self.options.connections
                )
            )
            await asyncio.sleep(1)
            path = await profile.record(shop.worker_pids()[0], seconds)
            result = await load
            if path is not None:
                samples, groups, functions = profile.summarise(path)
                self.notes["profile"] = {
                    "samples": samples,
                    "groups": groups,
                    "functions": functions,
                    "rps": result.rps,
                }
                for name, share in groups:
                    self.say(f"  {share:6.1%}  {name}")
        finally:
            shop.stop()

    async def phase_jwt(self) -> None:
        self.say("\n== JWT sign and verify in-process (PyJWT + cryptography)")
        costs = await asyncio.to_thread(jwt_costs.measure)
        for algorithm, (sign, verify) in costs.items():
            self.say(f"  {algorithm:<6} sign {sign:8.1f} µs   verify {verify:8.1f} µs")
        self.notes["jwt"] = costs


async def run(options: Options) -> None:
    require_wrk()
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    database = await asyncio.to_thread(data.Server.find)
    try:
        async with data.bench_database(database) as url:
            bench = Bench(options, url)
            hashed = await asyncio.to_thread(data.password_hash)
            await data.load_users(url, 1, LOGIN_USERS, 5, hashed)
            await data.load_users(url, *UNVERIFIED, 1, hashed, verified=False)
            await data.load_rates(url)
            bench.say(
                f"database: {LOGIN_USERS:,} users loaded; {cores()} cores; wrk {options.connections} connections, {options.seconds:g} s a run, {options.rounds} rounds"
            )
            phases: dict[str, Callable[[], Awaitable[None]]] = {
                "jwt": bench.phase_jwt,
                "1w": lambda: bench.phase_workers(1),
                "2w": lambda: bench.phase_workers(2),
                "algorithms": bench.phase_algorithms,
                "webhooks": lambda: bench.phase_webhooks(database.url),
                "roundtrips": bench.phase_round_trips,
                "profile": bench.phase_profile,
                "memory": bench.phase_memory,
                "startup": bench.phase_startup,
                "1m": bench.phase_scale,
            }
            bench.notes["machine"] = (
                f"{platform.machine()}, {cores()} cores, Python {platform.python_version()}, {_cpu_model()}"
            )
            for name, phase in phases.items():
                if name in options.phases and (name != "1m" or options.scale_1m):
                    await phase()
                    bench.notes["minutes"] = (time.perf_counter() - started) / 60
                    if options.write:  # after every phase: a long run cut short still leaves its figures
                        report.write(
                            report.render(bench.figures, bench.notes, options), bench.figures, bench.notes
                        )
            print("\n" + report.render(bench.figures, bench.notes, options))
    finally:
        database.stop()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round of 3 s, memory after 10k and 50k requests"
    )
    parser.add_argument(
        "--scale-1m", action="store_true", help="also load 1,000,000 users and 2,000,000 addresses"
    )
    parser.add_argument("--seconds", type=float, default=None, help="seconds per wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds per phase (default 3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--memory", type=int, default=None, help="second RSS checkpoint (default 200,000 requests)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument(
        "--only",
        default="jwt,1w,2w,algorithms,webhooks,roundtrips,profile,memory,startup,1m",
        help="comma-separated phases to run (default: all)",
    )
    args = parser.parse_args()
    options = Options(
        seconds=args.seconds or (3.0 if args.quick else 5.0),
        rounds=args.rounds or (1 if args.quick else 3),
        connections=args.connections,
        scale_1m=args.scale_1m or os.environ.get("BENCH_SCALE") == "1m",
        memory_requests=(10_000, args.memory or (50_000 if args.quick else 200_000)),
        write=not args.no_write,
        phases=set(args.only.split(",")),
    )
    try:
        asyncio.run(run(options))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
