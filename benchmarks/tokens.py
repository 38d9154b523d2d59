"""Per-operation cost of minting and checking an access token, in process, for each JWT_ALGORITHM.

    python -m benchmarks.tokens

No database, no HTTP: the codec and key ring shop uses, fed keys made in memory. What a login or an
authenticated request adds for the algorithm is one sign or one verify (plus, every 5 s, one small
SELECT to reload the keys, not measured here).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from shop.auth.keys.material import ASYMMETRIC, key_box, new_key
from shop.auth.keys.tokens import AccessTokenCodec, KeyRing, StoredKey
from shop.auth.models import SigningKey

ROOT_SECRET = "benchmark-root-secret-" + "x" * 32
ALGORITHMS = ("HS256", *ASYMMETRIC)
ROUNDS = 7


def per_op(operation: Callable[[], Any], budget_seconds: float = 0.3) -> float:
    """Median microseconds of one call, over ROUNDS rounds sized to about `budget_seconds` each."""
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < 0.05:
        operation()
        calls += 1
    per_call = (time.perf_counter() - started) / calls
    n = max(10, int(budget_seconds / per_call))
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(n):
            operation()
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


def run_sync(coroutine: Any) -> Any:
    """Drive a coroutine that never suspends (a fresh key ring needs no I/O) without a loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine suspended")


async def codec_for(algorithm: str) -> tuple[AccessTokenCodec, Any]:
    ring = KeyRing(algorithm, ROOT_SECRET, 3600)
    stored: list[StoredKey] = []
    if algorithm in ASYMMETRIC:
        key = new_key(algorithm, key_box(ROOT_SECRET))
        stored.append(
            SigningKey(
                kid=key.kid,
                alg=algorithm,
                state="active",
                public_jwk=key.public_jwk,
                private_key=key.sealed_private_key,
                retired_at=None,
            )
        )

    async def load() -> Sequence[StoredKey]:
        return stored

    codec = AccessTokenCodec(ring, issuer="https://shop.example", audience="shop", ttl_seconds=3600)
    return codec, load, await ring.current(load)


Row = tuple[str, float, float, float, int]


async def measure() -> list[Row]:
    rows = []
    user, session = uuid.uuid4(), uuid.uuid4()
    for algorithm in ALGORITHMS:
        codec, load, keys = await codec_for(algorithm)
        signer = keys.signer
        token = codec.sign(signer, user, session, amr=["pwd"])
        verifier = keys.verifiers[signer.kid]
        sign_us = per_op(lambda c=codec, s=signer: c.sign(s, user, session, amr=["pwd"]))
        verify_us = per_op(lambda c=codec, v=verifier, t=token: c.check(v, t))
        run_sync(codec.decode(load, token))
        again_us = per_op(lambda c=codec, t=token, ld=load: run_sync(c.decode(ld, t)))
        rows.append((algorithm, sign_us, verify_us, again_us, len(token)))
    return rows


def table(rows: list[Row]) -> str:
    base_sign, base_verify = rows[0][1], rows[0][2]
    lines = [
        "| algorithm | sign (µs) | verify, first time (µs) | verify, seen token (µs) "
        "| sign vs HS256 | verify vs HS256 | token bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for algorithm, sign_us, verify_us, again_us, size in rows:
        lines.append(
            f"| {algorithm} | {sign_us:.1f} | {verify_us:.1f} | {again_us:.1f} | {sign_us / base_sign:.2f}x "
            f"| {verify_us / base_verify:.2f}x | {size} |"
        )
    return "\n".join(lines)


def main() -> None:
    print("access tokens, in process, per operation (median of 7 rounds)\n")
    print(table(asyncio.run(measure())))


if __name__ == "__main__":
    main()
