"""The table, the targets, and docs/PERFORMANCE.md with its plot."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from benchmarks.harness import ROOT, median

if TYPE_CHECKING:
    from benchmarks.__main__ import Figure, Options

DOC = ROOT / "docs" / "PERFORMANCE.md"
PLOT = ROOT / "docs" / "performance.png"

READS = (
    "GET /api/v1/auth/me",
    "GET /api/v1/profile",
    "GET /api/v1/addresses (5)",
    "GET /api/v1/convert (cross rate)",
)


def _f(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _find(figures: list[Figure], phase: str, name: str) -> Figure | None:
    return next((f for f in figures if f.phase == phase and f.name == name), None)


def table(figures: list[Figure]) -> str:
    lines = [
        "| phase | scenario | req/s (median) | p50 ms | p99 ms | ratio | to ceiling |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for figure in figures:
        if figure.name.endswith("idle"):
            lines.append(
                f"| {figure.phase} | {figure.name} (open-loop probe, 20/s) | – | {_f(median_of(figure.probe_p50), 2)} | {_f(median_of(figure.probe_p99), 2)} | – | – |"
            )
            continue
        if figure.name.startswith("ceiling: argon2"):
            label = "logins/s" if "verify" in figure.name else "registrations/s"
            lines.append(
                f"| {figure.phase} | {figure.name} ({_f(figure.p50, 1)} ms each with min(workers, cores) hashing at once) | {_f(figure.rps)} {label} | – | – | – | – |"
            )
            continue
        name = figure.name
        errors = sum(run.errors for run in figure.runs)
        if errors:
            name += f" (**{errors} error answers**)"
        if figure.probe_p99:
            name += f" — {figure.probe_path} p99 {_f(median_of(figure.probe_p99), 1)} ms"
        lines.append(
            f"| {figure.phase} | {name} | {_f(figure.rps)} | {_f(figure.p50, 2)} | {_f(figure.p99, 2)} | {_f(figure.ratio, 2)} | {figure.ceiling or '–'} |"
        )
    return "\n".join(lines)


def median_of(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else float("nan")


def targets(figures: list[Figure], notes: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []

    def ratio_target(phase: str, name: str, goal: float, label: str) -> None:
        figure = _find(figures, phase, name)
        if figure is not None and figure.ratio is not None:
            rows.append((label, f"{figure.ratio:.2f}", figure.ratio >= goal))

    ratio_target("1 worker", "GET /health/live", 0.8, "GET /health/live ≥ 0.8× bare GET /hello")
    ratio_target("1 worker", "GET /api/v1/auth/me", 1.2, "GET /auth/me ≥ 1.2× database ceiling")
    ratio_target("1 worker", "GET /api/v1/profile", 1.0, "GET /profile ≥ 1.0× database ceiling")
    ratio_target("1 worker", "POST /api/v1/auth/refresh (chains)", 0.4, "refresh ≥ 0.4× database ceiling")
    ratio_target(
        "1 worker",
        "POST /api/v1/auth/passkeys/authenticate",
        0.5,
        "passkey sign-in ≥ 0.5× database ceiling",
    )
    ratio_target(
        "1 worker", "POST /api/v1/auth/oidc/exchange", 0.5, "provider exchange ≥ 0.5× database ceiling"
    )
    for name in (
        "GET /api/v1/countries?lang=de",
        "GET /api/v1/countries/DE/address-format",
        "GET /api/v1/money/format",
        "GET /.well-known/jwks.json (RS256)",
    ):
        ratio_target("1 worker", name, 0.7, f"{name} ≥ 0.7× bare GET /hello")
    storm = _find(figures, "2 workers", "POST /api/v1/auth/login storm")
    if storm is not None and storm.ratio is not None:
        rows.append(
            ("login, 2 workers ≥ 0.85× all-core argon2 ceiling", f"{storm.ratio:.2f}", storm.ratio >= 0.85)
        )
    for phase in ("1 worker", "2 workers"):
        storm = _find(figures, phase, "POST /api/v1/auth/login storm")
        if storm is not None and storm.probe_p99:
            p99 = median_of(storm.probe_p99)
            rows.append(
                (f"/health/live p99 ≤ 25 ms during the login storm ({phase})", f"{p99:.1f} ms", p99 <= 25)
            )
    me = _find(figures, "2 workers", "GET /api/v1/auth/me")
    if me is not None and me.probe_p99:
        p99 = median_of(me.probe_p99)
        rows.append(("/metrics of 2 workers p99 ≤ 50 ms under the read load", f"{p99:.1f} ms", p99 <= 50))
    hooks = notes.get("webhooks") or {}
    if "messages_per_second" in hooks:
        rate = hooks["messages_per_second"]
        rows.append(("webhook deliveries ≥ 500 messages/s (1 dispatcher)", f"{rate:,.0f}/s", rate >= 500))
    for figure in figures:
        if figure.phase == "1 worker, webhooks" and "draining" in figure.name and figure.ratio is not None:
            rows.append((f"{figure.name}: ≥ 0.9× the same idle", f"{figure.ratio:.2f}", figure.ratio >= 0.9))
    for name in READS:
        one, two = _find(figures, "1 worker", name), _find(figures, "2 workers", name)
        if one and two and one.rps:
            scale = two.rps / one.rps
            rows.append((f"2 workers ≥ 1.6× 1 worker: {name}", f"{scale:.2f}×", scale >= 1.6))
    for figure in figures:
        if figure.phase != "1 worker, 1M users" or figure.name.startswith("ceiling: argon2"):
            continue
        base = _find(figures, "1 worker", figure.name)
        if base and base.p50:
            factor = figure.p50 / base.p50
            rows.append((f"1M users: p50 within 1.2× of 1k: {figure.name}", f"{factor:.2f}×", factor <= 1.2))
    rss = notes.get("rss")
    if rss:
        keys = [k for k in rss if k != "start"]
        first, last = rss[keys[0]], rss[keys[-1]]
        rows.append(("RSS ≤ 150 MB per worker", f"{last:.0f} MB", last <= 150))
        growth = (last - first) / first
        rows.append(
            (f"RSS growth {keys[0]:,} → {keys[-1]:,} requests ≤ 10 %", f"{growth:+.1%}", growth <= 0.10)
        )
    startup = notes.get("startup") or {}
    restart = startup.get("embedded PostgreSQL, restart (existing data dir)")
    if restart is not None:
        rows.append(
            ("ready ≤ 3 s on restart with an existing embedded data dir", f"{restart:.2f} s", restart <= 3)
        )
    return rows


def render(figures: list[Figure], notes: dict[str, Any], options: Options) -> str:
    out = []
    out.append("## Figures\n")
    out.append(table(figures))
    out.append("\n## Targets\n")
    out.append("| target | measured | met |\n|---|---:|:---:|")
    for label, value, met in targets(figures, notes):
        out.append(f"| {label} | {value} | {'yes' if met else 'no'} |")

    timing = []
    for path in ("password-reset-request", "resend-verification"):
        known = _find(figures, "1 worker", f"POST /api/v1/auth/{path} (known email)")
        unknown = _find(figures, "1 worker", f"POST /api/v1/auth/{path} (unknown email)")
        if known and unknown and unknown.p50:
            ratio = known.p50 / unknown.p50
            timing.append(
                f"| `/{path}` | {known.p50:.2f} | {unknown.p50:.2f} | {ratio:.2f} | {'yes' if 0.8 <= ratio <= 1.25 else 'no'} |"
            )
    if timing:
        out.append("\n## Known vs unknown email\n")
        out.append(
            "One request at a time (1 connection), alternating rounds; goal: ratio of medians 0.8–1.25.\n"
        )
        out.append(
            "| endpoint | known p50 ms | unknown p50 ms | ratio | in 0.8–1.25 |\n|---|---:|---:|---:|:---:|"
        )
        out += timing

    jwt = notes.get("jwt")
    if jwt:
        out.append("\n## Signing algorithms\n")
        out.append(
            "In-process, PyJWT + cryptography, one access token with shop's claims (median of 5 batches):\n"
        )
        out.append("| algorithm | sign µs | verify µs |\n|---|---:|---:|")
        for algorithm, (sign, verify) in jwt.items():
            out.append(f"| {algorithm} | {sign:.1f} | {verify:.1f} |")
        algorithms = notes.get("algorithms") or []
        if len(algorithms) >= 2:
            out.append(
                f"\nEnd to end (1 worker each, ratio to {algorithms[0]}): see the phase “signing algorithms” above."
            )
        else:
            out.append(
                f"\nEnd to end: shop accepts only {', '.join(algorithms) or 'HS256'} today; the phase runs by itself once `JWT_ALGORITHM` accepts more."
            )

    trips = notes.get("round_trips")
    if trips:
        out.append("\n## Database round trips per request\n")
        out.append(
            "Counted on the wire (a proxy reads the PostgreSQL protocol: each simple query and each extended-protocol Sync is one round trip), warm caches, 1 worker.\n"
        )
        out.append("| request | round trips | what is sent |\n|---|---:|---|")
        for name, entry in trips.items():
            statements = "; ".join(_short(s) for s in entry["statements"])
            out.append(f"| {name} | {entry['round_trips']} | {statements} |")

    hooks = notes.get("webhooks")
    if hooks:
        out.append("\n## Webhooks\n")
        out.append(
            f"One dispatcher drained {hooks['messages_per_second']:,.0f} messages/s to a verifying receiver on "
            f"loopback ({hooks['cpu_ms_per_message']:.2f} ms of the dispatcher's CPU per message)."
        )
        delivered = hooks.get("delivered_during_runs")
        if delivered:
            out.append(
                f"Messages delivered during each {options.seconds:g}-second run of the drain phase, while "
                f"the worker also answered wrk: {', '.join(f'{n:,}' for n in delivered)}."
            )
        out.append(WEBHOOK_COST)

    out.append(HASHING_THREADS)
    out.append(login_cpu(figures))

    rss = notes.get("rss")
    startup = notes.get("startup")
    if rss or startup:
        out.append("\n## Memory and start-up\n")
        if rss:
            out.append("| RSS of the worker | MB |\n|---|---:|")
            for key, value in rss.items():
                label = "after start-up and login" if key == "start" else f"after {key:,} requests"
                out.append(f"| {label} | {value:.1f} |")
        if startup:
            out.append("\n| `shop serve` until `/health/ready` | seconds |\n|---|---:|")
            for key, value in startup.items():
                out.append(f"| {key} | {value:.2f} |")

    prof = notes.get("profile")
    if prof and prof["samples"]:
        out.append("\n## Where the time of the hottest path goes\n")
        groups = ", ".join(f"{name} {share:.0%}" for name, share in prof["groups"] if share >= 0.02)
        functions = ", ".join(f"`{name}` {share:.0%}" for name, share in prof["functions"][:6])
        out.append(
            f"py-spy sampled the worker's event-loop thread ({prof['samples']:,} samples) while wrk drove "
            f"`GET /api/v1/auth/me` at {prof['rps']:,.0f} req/s. By the library of the innermost frame "
            f"(self time of the busy samples): {groups}. Inclusive time in shop's own functions: {functions}."
        )
    for key in ("load_1m_seconds",):
        if key in notes:
            rows = notes.get("rows_1m", {})
            out.append(
                f"\n1M scale: {', '.join(f'{k} {v:,}' for k, v in rows.items())} loaded with `generate_series` in {notes[key]:.0f} s."
            )
    out.append(
        f"\nMachine: {notes.get('machine')}. Run: {options.rounds} alternating rounds of {options.seconds:g} s per "
        f"target, wrk with {options.connections} connections and 2 threads on loopback; the whole run took "
        f"{notes.get('minutes', 0):.0f} minutes; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
    )
    return "\n".join(out)


def _short(statement: str, limit: int = 90) -> str:
    text = " ".join(statement.split())
    return "`" + (text if len(text) <= limit else text[: limit - 1] + "…") + "`"


HEADER = """# Performance

`make bench` (never part of `make test`) measures shop on the machine it runs on and rewrites this
page. It needs [wrk](https://github.com/wg/wrk) (`apt-get install wrk`), a PostgreSQL (the one of
`BENCH_DATABASE_URL` or `TEST_DATABASE_URL`, else a local server at 127.0.0.1:5432, else the embedded
one; the bench makes and drops a database of its own) and, installed by `make bench` itself, the
`bench` extra (matplotlib, py-spy). `make bench BENCH_ARGS=--scale-1m` adds the 1,000,000-user phase;
`BENCH_ARGS=--quick` makes a short run.

How to read it: every figure is a ratio to a **ceiling measured in the same run on the same machine**,
because absolute numbers on a shared machine mean little. The ceilings: a bare FastAPI `GET /hello`
on the same server stack (framework); a bare FastAPI endpoint that opens an `AsyncSession` from an
ordinary `async_sessionmaker` and loads one user row by primary key with `session.get` (database);
argon2id with shop's parameters, measured in-process with min(workers, cores) threads hashing at
once (alone a hash is faster than with every core busy) for 2 s right before each round's login
storm and again right after its last argon2 target, their mean being the round's ceiling (the
machine's hashing speed drifts within a minute) — the login ceiling is min(workers, cores) ÷ verify time. Within a phase all servers run side by side and wrk visits the
targets in alternating rounds (A/B/A/B), so drift lands on every target alike; before the first
round wrk runs each target for 1 s, uncounted (pools' connections opened, caches filled); each figure is the median over the rounds, and each ratio the median of the per-round ratios. During the login storm an
open-loop probe sends 20 `GET /health/live` a second on fresh connections and reports their p99;
with 2 workers the same probe asks `GET /metrics` (one scrape sums both workers) while wrk reads
`/auth/me`. The webhook phase measures deliveries per second to a receiver on loopback that verifies
every signature, then the reads and the login storm of a worker idle and while a burst of 10,000
messages drains through its dispatcher to that receiver (each ratio: draining ÷ idle, the two runs
side by side, idle first in one round and draining first in the next).
wrk shares the machine's cores with the server, as a client on the same host would. Both hold at
most 10 database connections per worker: the ceiling a pool of 5 plus 5 in overflow, shop
`DB_POOL_SIZE=10` (shop's pool has no overflow).

![throughput and p99 per scenario](performance.png)

"""


# A decision measured once by hand (not by each run of the bench): kept with the figures it rests on.
HASHING_THREADS = """
## Hashing threads

A lone worker (`WEB_CONCURRENCY=1`) hashes passwords on every core but one; with several workers each
may hash on every core, at a low priority (nice 10) that leaves each event loop its turn. Why one
thread for a lone worker on 2 cores: three alternating 10-second login storms (8 connections,
`/health/live` probed 20 times a second) with one and with two hashing threads —

| hashing threads | `/health/live` p99 per storm | median p99 | logins/s |
|---|---|---:|---|
| 1 | 128.0, 23.9, 29.1 ms | 29 ms | 12.4, 10.0, 9.0 |
| 2 | 56.7, 49.8, 60.5 ms | 57 ms | 14.1, 10.7, 11.0 |

A second thread bought about 15 % more logins and doubled the probe's p99 (the machine was busy with
other work then, hence the low rates): a lone worker keeps its event loop a core. Several workers
hash on every core because the kernel does not share a burst of connections out evenly among them
(8 of 8 keep-alive connections of a storm were seen on one of 2 workers): a worker sized for half
the cores left the other half idle, and logins ran at 0.60–0.67 of the all-core ceiling. And the
workers take turns at the cores (`HashingSlots`, docs/adr/0011): with a thread per core in each of
2 workers, up to 4 hashes shared 2 cores, and 4 at once verified 15–20 % fewer passwords a second
than 2.

## Answers before routing, work once per turn

The reference answers (countries, address formats, `/money/format`, the JWKS) are served by the
request guard from the answers their routes rendered before (`FrontAnswers`, docs/adr/0011): a hit
pays uvicorn and shop's two middleware layers (request id, security headers, log line, metrics) but
not FastAPI's routing, which is why they run faster than the bare `/hello`, itself a routed FastAPI
endpoint. `/health/live` stays routed: its ratio is the cost of shop's middleware against a bare
endpoint. The request log lines and the request metrics of one turn of the event loop are written
together at its end.

## What a hash beside the event loop cost, and no longer does

Two costs of a login storm with 2 workers that only show while another thread of the worker hashes,
found with `perf` and per-process page-fault counts (measured once, on 2 cores, 10-second storms):

- **Each hash faulted its block in afresh.** glibc keeps a freed 19 MiB argon2 block for the next
  hash only while the free memory at the top of its heap stays under twice the largest block freed;
  two hashes ending together left more, and it handed their blocks back. The workers took 40,000–70,000
  page faults a second, and a hash cost 25.2 ms of CPU against 21.2 ms in-process. With the block
  thresholds fixed (`keep_free_blocks`): about 100 faults a second, a hash 21.1 ms, and 56.6 → 64.4
  logins a second in two quick runs of the 2-worker phase.
- **The event loop waited for the hashing core at every unmap.** SQLAlchemy runs each pool checkout
  and check-in on a new greenlet, and on Python 3.11 a greenlet's frame stack is a 16 KiB mapping,
  unmapped when it ends: 4 unmaps a login. An unmap makes the kernel flush that range on every core
  running a thread of the process, and the event loop waits until the hashing core has; `perf` put
  38 % of the event loops' CPU in that wait (`smp_call_function_many_cond` under `munmap`). On kept
  greenlets (`shop.core.greenlets.run_sync`): 2.6 %, a worker's event loop 6.5 → 3.4 ms of CPU per
  login, and 68–70 → 73–75 logins a second in alternating storms.

What is left on the event loops is a login's request, its two statements and its token: 0.9 ms of
CPU in-process, test client included, and 2.4–3.4 ms per login during a storm. The rest is most
likely the caches a hash fills on the core beside it (19 MiB streamed per hash); this VM exposes no
hardware counters to show it.

## What the garbage collector cost

CPython collects its youngest generation whenever 700 more container objects have been allocated
than freed, and the requests one worker has in flight hold more than that. Under `GET /auth/me`
(1 worker, 32 connections, 10-second runs) it ran 280–310 times a second, promoted the requests'
live state to the older generations and walked it there too, and found nothing to free: reference
counting frees what a request leaves. `gc.callbacks` counted 684–772 ms of collections in 10 s,
7–8 % of the worker's CPU. Collected after 10,000 instead (`shop.core.collector`): no collection
during the load, and 0.79 → 0.73, 0.80 → 0.76 and 0.84 → 0.73 ms of CPU per request in three
alternating pairs, at the same RSS (131.7 and 131.8 MB).
"""


WEBHOOK_COST = """
Where a delivery's CPU went (py-spy, 5,000 messages to one endpoint), and what was changed:

- A fifth of it answered one question httpcore asks of every idle connection in the endpoint's
  pool (16) each time a request starts or ends: is its socket readable (closed by the receiver)?
  Through AnyIO each answer built the dict of the socket's attributes and asked the kernel for the
  peer's address. The dispatcher's connections now answer it from the socket they keep
  (`shop.webhooks.targets`).
- A fifth of the rest was httpx's client around httpcore's pool: its request and response objects,
  cookies, redirects and authentication, none of which a webhook uses. The dispatcher sends on the
  pool itself, and names each send in a trace span of its own (`webhook send`), as httpx's
  instrumentation did.

Together, in three alternating pairs of runs on the same machine: 2.61 → 1.64, 2.79 → 1.74 and
2.37 → 1.85 ms of CPU per message, 380 → 599, 354 → 564 and 419 → 530 messages a second.
"""


def login_cpu(figures: list[Figure]) -> str:
    """Where the machine's CPU went during the login storms of the 1- and 2-worker phases."""
    rows = []
    for figure in figures:
        if not figure.cpu or figure.phase not in {"1 worker", "2 workers"}:
            continue
        ceiling = _find(figures, figure.phase, "ceiling: argon2 verify")
        rps = figure.rps or 1.0

        def share(cores: float, rps: float = rps) -> str:
            return f"{cores:.2f} cores, {cores * 1000 / rps:.1f} ms"

        loops = median([use.loops for use in figure.cpu])
        others = median([use.others for use in figure.cpu])
        postgres = median([use.postgres for use in figure.cpu])
        verify = f"{ceiling.p50:.1f} ms" if ceiling is not None else "–"
        rows.append(
            f"| {figure.phase} | {rps:.1f} | {share(loops)} | {share(others)} | {share(postgres)} | {verify} |"
        )
    if not rows:
        return ""
    return (
        "\n## Where a login storm's CPU goes\n\n"
        "Read from /proc during each storm (medians over the rounds): the cores busy, and the CPU "
        "milliseconds per login. The argon2 ceiling counts every core hashing and nothing else; a "
        "login's other work (its HTTP request, its two statements, the token) runs on the same cores, "
        "and so do PostgreSQL and wrk; while argon2 runs on one core, the other core's work runs "
        "slower (see above: what a hash beside the event loop cost).\n\n"
        "| phase | logins/s | event loops | other threads (argon2) | PostgreSQL | argon2 verify in-process |\n"
        "|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows)
    )


def write(text: str, figures: list[Figure], notes: dict[str, Any]) -> None:
    DOC.write_text(HEADER + text + "\n")
    plot(figures)
    print(f"\nwrote {DOC.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")


def plot(figures: list[Figure]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [f for f in figures if f.runs and not f.name.startswith("ceiling: argon2")]
    labels = [f"{f.name} · {f.phase}" for f in shown]
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, max(6, 0.32 * len(shown))), sharey=True)
    positions = range(len(shown))
    colors = ["#999999" if f.name.startswith("ceiling") else "#3366aa" for f in shown]
    left.barh(positions, [f.rps for f in shown], color=colors)
    left.set_xscale("log")
    left.set_xlabel("requests per second (median of rounds, log scale)")
    left.set_yticks(list(positions), labels, fontsize=7)
    left.invert_yaxis()
    right.barh(positions, [f.p99 for f in shown], color=colors)
    right.set_xscale("log")
    right.set_xlabel("p99 latency, ms (log scale)")
    fig.suptitle("shop under wrk: throughput and p99 per scenario (grey: ceilings)")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)
