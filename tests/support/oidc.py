"""OpenID Connect providers for the tests, on loopback, and the steps of a provider sign-in.

- `mock_provider()`: oidc-provider-mock, a real provider (Authlib's server side, in a thread): its
  discovery, keys, authorization form (a user is chosen by a form POST) and token endpoint.
- `ProviderDouble`: a small provider whose ID tokens a test bends (wrong `aud`, `iss`, `nonce`, an
  expired one, one signed by another key, a new key) or that is down; it checks PKCE as a real one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

CLIENT_ID = "shop-test-client"
CLIENT_SECRET = "shop-test-client-secret"
SPA_RETURN = "http://shop.test/signed-in"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@contextmanager
def mock_provider() -> Iterator[str]:
    """oidc-provider-mock on a free loopback port; yields its issuer."""
    import oidc_provider_mock

    with oidc_provider_mock.run_server_in_thread(port=0) as server:
        yield f"http://localhost:{server.server_port}"


async def set_mock_user(issuer: str, sub: str, **claims: Any) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.put(f"{issuer}/users/{quote(sub, safe='')}", json=claims)
    assert response.status_code == 204, response.text


async def answer_at_mock(authorization_url: str, sub: str | None, *, deny: bool = False) -> str:
    """The person at the mock's authorization form: signs in as `sub` (or cancels); the URL the
    provider sends the browser to (shop's callback)."""
    form = {"action": "deny"} if deny else {"sub": sub or ""}
    return await _redirect("POST", authorization_url, data=form)


async def _redirect(method: str, url: str, **request: Any) -> str:
    """Where the provider's answer to this request sends the browser."""
    async with httpx.AsyncClient() as http:
        response = await http.request(method, url, **request)
    assert response.status_code == 302, response.text
    return response.headers["location"]


@dataclass
class Started:
    verifier: str
    authorization_url: str


async def start(
    client: httpx.AsyncClient,
    provider: str,
    *,
    intent: str = "sign_in",
    headers: dict[str, str] | None = None,
    redirect_to: str = SPA_RETURN,
) -> Started:
    """The SPA's start: its own PKCE verifier kept, its challenge sent."""
    verifier = secrets.token_urlsafe(48)
    response = await client.post(
        f"/api/v1/auth/oidc/{provider}/start",
        json={
            "redirect_to": redirect_to,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            "intent": intent,
        },
        headers=headers or {},
    )
    assert response.status_code == 200, response.text
    return Started(verifier, response.json()["authorization_url"])


async def back_at_shop(client: httpx.AsyncClient, callback_url: str) -> dict[str, str]:
    """shop's callback, then the query of where it sends the browser (the SPA's page)."""
    response = await client.get(callback_url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(SPA_RETURN), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def exchange(client: httpx.AsyncClient, code: str, verifier: str) -> httpx.Response:
    return await client.post("/api/v1/auth/oidc/exchange", json={"code": code, "code_verifier": verifier})


class ProviderDouble:
    """A provider a test controls. `tweaks` change the claims of the next ID tokens (a value None
    removes the claim); `sign_with_other_key` signs them with a key it does not publish (same kid);
    `rotate()` signs with a new key it publishes from then on; `down` answers 503 everywhere; `deny`
    sends the browser back with `error=access_denied` (the person cancelled)."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "key-1"})
        self.other_key = ECKey.generate_key("P-256", parameters={"kid": "key-1"})
        self.tweaks: dict[str, Any] = {}
        self.sign_with_other_key = False
        self.down = False
        self.deny = False
        self.answer_iss: str | None = None  # an `iss` in the authorization answer (RFC 9207)
        self.claims: dict[str, Any] = {}
        self.jwks_reads = 0
        self._codes: dict[str, dict[str, str]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ProviderDouble:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": f"key-{secrets.token_hex(4)}"})

    def reset(self) -> None:
        self.tweaks, self.sign_with_other_key, self.down, self.deny = {}, False, False, False
        self.claims = {}
        self.answer_iss = None

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        }

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "double-subject",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": "double@example.com",
            "email_verified": True,
            **self.claims,
        }
        for name, value in self.tweaks.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.other_key if self.sign_with_other_key else self.key
        return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if double.down:
                    return self._json(503, {"error": "down"})
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/openid-configuration":
                    return self._json(200, double.metadata())
                if parts.path == "/jwks":
                    double.jwks_reads += 1
                    return self._json(200, {"keys": [double.key.as_dict(private=False)]})
                if parts.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    code = secrets.token_urlsafe(16)
                    double._codes[code] = query
                    answer = {"error": "access_denied"} if double.deny else {"code": code}
                    if double.answer_iss is not None:
                        answer["iss"] = double.answer_iss
                    target = f"{query['redirect_uri']}?{urlencode({**answer, 'state': query['state']})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if double.down:
                    return self._json(503, {"error": "down"})
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                asked = double._codes.pop(form.get("code", ""), None)
                if asked is None or s256(form.get("code_verifier", "")) != asked.get("code_challenge"):
                    return self._json(400, {"error": "invalid_grant"})
                if form.get("redirect_uri") != asked["redirect_uri"]:
                    return self._json(400, {"error": "invalid_grant"})
                return self._json(
                    200,
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": double.id_token(asked["nonce"]),
                    },
                )

        return Handler


async def follow_double(authorization_url: str) -> str:
    """The browser at the double: it answers at once; the URL of shop's callback."""
    return await _redirect("GET", authorization_url)


@dataclass
class Providers:
    """The issuers of the two providers the tests configure as `local` (the mock) and `double`."""

    local: str
    double: ProviderDouble
    settings: dict[str, Any] = field(default_factory=dict)


def provider_settings(local_issuer: str, double_issuer: str) -> dict[str, Any]:
    """What OIDC_PROVIDERS=local,double and their OIDC_<NAME>_* variables say."""
    return {
        "oidc_providers": "local,double",
        "oidc_local_issuer": local_issuer,
        "oidc_local_client_id": CLIENT_ID,
        "oidc_local_client_secret": CLIENT_SECRET,
        "oidc_local_display_name": "Local provider",
        "oidc_double_issuer": double_issuer,
        "oidc_double_client_id": CLIENT_ID,
    }
