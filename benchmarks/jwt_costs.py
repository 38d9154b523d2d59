"""Issue #13: the in-process cost of signing and verifying one access token with each algorithm
(PyJWT + cryptography), with claims shaped as shop's."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALGORITHMS = ("HS256", "EdDSA", "ES256", "RS256")


def _keys(algorithm: str) -> tuple[Any, Any]:
    if algorithm == "HS256":
        secret = "x" * 64
        return secret, secret
    if algorithm == "EdDSA":
        private: Any = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private, private.public_key()


def _claims() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(hours=1),
        "type": "access",
        "iss": "http://localhost:8000",
        "aud": "shop",
        "amr": ["pwd"],
    }


def _per_op_us(function: Any, budget: float = 0.4) -> float:
    """Median of five batches, each sized to take about budget/5 seconds."""
    function()
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < 0.05:
        function()
        n += 1
    batch = max(1, int(n * (budget / 5) / 0.05))
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(batch):
            function()
        samples.append((time.perf_counter() - started) / batch * 1e6)
    samples.sort()
    return samples[2]


def measure() -> dict[str, tuple[float, float]]:
    """{algorithm: (sign µs, verify µs)}."""
    results = {}
    for algorithm in ALGORITHMS:
        signing, verifying = _keys(algorithm)
        claims = _claims()
        headers = {"kid": "bench"} if algorithm != "HS256" else None
        token = jwt.encode(claims, signing, algorithm=algorithm, headers=headers)

        def sign(
            signing: Any = signing, algorithm: str = algorithm, headers: Any = headers, claims: Any = claims
        ) -> None:
            jwt.encode(claims, signing, algorithm=algorithm, headers=headers)

        def verify(verifying: Any = verifying, algorithm: str = algorithm, token: str = token) -> None:
            jwt.decode(
                token, verifying, algorithms=[algorithm], audience="shop", issuer="http://localhost:8000"
            )

        results[algorithm] = (_per_op_us(sign), _per_op_us(verify))
    return results
