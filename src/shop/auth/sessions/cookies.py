"""SPA cookie mode (REFRESH_COOKIE=true): where the refresh token travels, apart from how it is minted.

The refresh token goes into `__Secure-shop_refresh` (HttpOnly, so no script — an XSS included — can
read it; Secure; SameSite=Strict; Path=/api/v1/auth, so it reaches only the auth endpoints) and out of
the JSON body. A second cookie, `__Secure-shop_csrf`, is readable by the SPA's scripts (and given in
the body as `csrf_token`): a request that carries the refresh cookie must repeat it in `X-CSRF-Token`,
which another site cannot do because it cannot read our cookies. The value is a keyed hash of the
session's id (the key derived from JWT_SECRET_KEY), not a free random string: a value made up, or
made for another session, is refused. Without the refresh cookie, /refresh takes the body as always.

Every route that sets the cookies refuses a request a browser marks as cross-site (`Sec-Fetch-Site`),
or whose `Origin` is not shop's own nor one of CORS_ORIGINS: SameSite=Strict does not stop cookies set
by the answer to a cross-site top-level form POST, which would sign the visitor into the attacker's
account. (A request with neither header comes from no browser: nothing to defend.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Depends, Request, Response

from shop.auth.errors import CsrfFailed
from shop.auth.sessions.schemas import TokenPair
from shop.core.config import Settings

# `__Secure-`: a browser takes the cookie only when it is Secure and set over https (or localhost),
# so a network attacker on plain http cannot plant one (ASVS 3.3.3).
REFRESH_COOKIE = "__Secure-shop_refresh"
CSRF_COOKIE = "__Secure-shop_csrf"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_COOKIE_PATH = "/api/v1/auth"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@lru_cache(maxsize=8)
def _csrf_key(root_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"shop:csrf:v1").derive(
        root_secret.encode()
    )


def _origin(url: str) -> str | None:
    """`scheme://host[:port]` as a browser writes an `Origin` (default port left out), or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    shown = "" if port is None or _DEFAULT_PORTS.get(scheme) == port else f":{port}"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}{shown}"


@dataclass(frozen=True, slots=True)
class SessionCookies:
    """Sets, reads, checks and clears the session cookies; does nothing unless REFRESH_COOKIE is on."""

    enabled: bool
    key: bytes = b""
    domain: str | None = None
    origins: frozenset[str] = frozenset()

    def csrf_value(self, session_id: uuid.UUID) -> str:
        """The CSRF value of a session: an HMAC-SHA-256 of its id under a key of its own."""
        digest = hmac.new(self.key, session_id.bytes, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def check_csrf(self, request: Request, session_id: uuid.UUID) -> None:
        """The request's `X-CSRF-Token` is the CSRF value of `session_id` (the refresh cookie's)."""
        header = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(header.encode(), self.csrf_value(session_id).encode()):
            raise CsrfFailed()

    def refuse_cross_site(self, request: Request) -> None:
        """In cookie mode, a sign-in (any route that sets the cookies) from another site is refused."""
        if not self.enabled:
            return
        if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
            raise CsrfFailed("A request from another site cannot sign in here.")
        origin = request.headers.get("origin")
        if origin is not None and _origin(origin) not in self.origins:
            raise CsrfFailed("A request from another site cannot sign in here.")

    def issue(self, response: Response, pair: TokenPair) -> TokenPair:
        """The body to answer for a new token pair; in cookie mode its refresh token goes into a cookie
        and the body says the CSRF value instead.

        Every endpoint that answers a token pair (/login, /token, /refresh, /mfa/verify) ends with
        `return cookies.issue(response, pair)`."""
        session_id = pair.session_id
        if not self.enabled or pair.refresh_token is None or session_id is None:
            return pair
        lifetime = pair.refresh_expires_in
        csrf = self.csrf_value(session_id)
        response.set_cookie(
            REFRESH_COOKIE,
            pair.refresh_token,
            max_age=lifetime,
            path=REFRESH_COOKIE_PATH,
            domain=self.domain,
            secure=True,
            httponly=True,
            samesite="strict",
        )
        # As long-lived as the refresh cookie: a browser restart must not strand a refresh cookie
        # that no request could present any more.
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            max_age=lifetime,
            path="/",
            domain=self.domain,
            secure=True,
            httponly=False,
            samesite="strict",
        )
        return pair.model_copy(update={"refresh_token": None, "csrf_token": csrf})

    def clear(self, response: Response) -> None:
        if not self.enabled:
            return
        response.delete_cookie(
            REFRESH_COOKIE,
            path=REFRESH_COOKIE_PATH,
            domain=self.domain,
            secure=True,
            httponly=True,
            samesite="strict",
        )
        response.delete_cookie(
            CSRF_COOKIE, path="/", domain=self.domain, secure=True, httponly=False, samesite="strict"
        )

    def refresh_token(self, request: Request) -> str | None:
        """The refresh token of the cookie (its CSRF header is checked against its session by the
        caller, who looks the session up); None without the cookie or outside cookie mode."""
        if not self.enabled:
            return None
        return request.cookies.get(REFRESH_COOKIE)


def session_cookies(settings: Settings) -> SessionCookies:
    if not settings.refresh_cookie:
        return SessionCookies(enabled=False)
    own = {_origin(settings.public_url), _origin(settings.issuer)}
    allowed = {origin for origin in (*own, *(_origin(o) for o in settings.cors_origins)) if origin}
    return SessionCookies(
        enabled=True,
        key=_csrf_key(settings.signing_key()),
        domain=settings.cookie_domain,
        origins=frozenset(allowed),
    )


async def get_session_cookies(request: Request) -> SessionCookies:
    cookies: SessionCookies | None = getattr(request.app.state, "session_cookies", None)
    if cookies is None:
        cookies = session_cookies(request.app.state.settings)
        request.app.state.session_cookies = cookies
    return cookies


SessionCookiesDep = Annotated[SessionCookies, Depends(get_session_cookies)]


async def same_site_sign_in(request: Request, cookies: SessionCookiesDep) -> None:
    """A route dependency of every route that sets the cookies (see `refuse_cross_site`)."""
    cookies.refuse_cross_site(request)
