"""A stand-in for another service of the platform (catalogue, orders, payments) that checks shop's
access tokens the way docs/VERIFYING-TOKENS.md tells service authors to: PyJWT's PyJWKClient, and
nothing but shop's `jwks_uri`, the issuer and the audience. It shares no code, key or database with
shop and runs as a separate process:

    python tests/e2e/jwt_verifier.py --port P --jwks-uri URL --issuer ISS --audience AUD

GET /verify with `Authorization: Bearer <token>` answers 200 {"sub", "kid", "alg"} or
401 {"error": <the PyJWT exception's name>, "detail"}; GET /stats answers {"jwks_fetches"}.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from jwt import PyJWKClient

# Refetch at least this often (shop's Cache-Control max-age), and on an unknown kid — at most every
# few seconds (PyJWT's default cooldown of 30 s would refuse, for up to 30 s, a key that starts
# signing less than 30 s after the last fetch).
CACHE_SECONDS = 60
UNKNOWN_KID_COOLDOWN_SECONDS = 5


class CountingJWKClient(PyJWKClient):
    """PyJWKClient, counting its fetches of the key set (to show it follows a rotation by itself)."""

    def __init__(self, uri: str) -> None:
        super().__init__(
            uri,
            cache_jwk_set=True,
            lifespan=CACHE_SECONDS,
            cooldown_duration=UNKNOWN_KID_COOLDOWN_SECONDS,
            cache_keys=False,
            timeout=5,
        )
        self.fetches = 0
        self._count_lock = threading.Lock()

    def fetch_data(self) -> Any:
        with self._count_lock:
            self.fetches += 1
        return super().fetch_data()


def make_handler(client: CountingJWKClient, issuer: str, audience: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: hundreds of checks a second over a few connections
        # The headers and the body leave in two writes: with Nagle's algorithm the second waits for
        # the client's delayed ACK of the first (~40 ms), which capped each connection at ~25 checks/s.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._answer(200, {"jwks_fetches": client.fetches})
                return
            if self.path != "/verify":
                self._answer(404, {"error": "not_found"})
                return
            header = self.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                self._answer(401, {"error": "not_authenticated", "detail": "no bearer token"})
                return
            token = header.removeprefix("Bearer ")
            try:
                key = client.get_signing_key_from_jwt(token)
                claims = jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.algorithm_name],  # the key's algorithm, never the token's
                    issuer=issuer,
                    audience=audience,
                    leeway=1,
                    options={"require": ["exp", "iat", "iss", "aud", "sub"], "strict_aud": True},
                )
            except jwt.PyJWTError as exc:
                self._answer(401, {"error": type(exc).__name__, "detail": str(exc)})
                return
            kid = jwt.get_unverified_header(token).get("kid")
            self._answer(200, {"sub": claims["sub"], "kid": kid, "alg": key.algorithm_name})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--jwks-uri", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    args = parser.parse_args()
    client = CountingJWKClient(args.jwks_uri)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(client, args.issuer, args.audience))
    server.daemon_threads = True
    print(f"verifier listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
