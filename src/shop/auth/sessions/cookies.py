"""SPA cookie mode (REFRESH_COOKIE=true): where the refresh token travels, apart from how it is minted.

The refresh token goes into `shop_refresh` (HttpOnly, so no script — an XSS included — can read it;
Secure; SameSite=Strict; Path=/api/v1/auth, so it reaches only the auth endpoints) and out of the JSON
body. A second cookie, `shop_csrf`, is readable by the SPA's scripts: a request that carries the
refresh cookie must repeat its value in `X-CSRF-Token` (double submit), which another site cannot do
because it cannot read our cookies. Without the refresh cookie, /refresh takes the body as always.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from shop.auth.errors import CsrfTokenMismatch
from shop.auth.sessions.schemas import TokenPair
from shop.core.config import Settings

REFRESH_COOKIE = "shop_refresh"
CSRF_COOKIE = "shop_csrf"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_COOKIE_PATH = "/api/v1/auth"


@dataclass(frozen=True, slots=True)
class SessionCookies:
    """Sets, reads and clears the session cookies; does nothing unless REFRESH_COOKIE is on."""

    enabled: bool

    def issue(self, response: Response, pair: TokenPair) -> TokenPair:
        """The body to answer for a new token pair; in cookie mode its refresh token goes into cookies.

        Every endpoint that answers a token pair (/login, /token, /refresh, /mfa/verify) ends with
        `return cookies.issue(response, pair)`."""
        if not self.enabled or pair.refresh_token is None:
            return pair
        lifetime = pair.refresh_expires_in
        response.set_cookie(
            REFRESH_COOKIE,
            pair.refresh_token,
            max_age=lifetime,
            path=REFRESH_COOKIE_PATH,
            secure=True,
            httponly=True,
            samesite="strict",
        )
        # As long-lived as the refresh cookie: a browser restart must not strand a refresh cookie
        # that no request could present any more.
        response.set_cookie(
            CSRF_COOKIE,
            secrets.token_urlsafe(32),
            max_age=lifetime,
            path="/",
            secure=True,
            httponly=False,
            samesite="strict",
        )
        return pair.model_copy(update={"refresh_token": None})

    def clear(self, response: Response) -> None:
        if not self.enabled:
            return
        response.delete_cookie(
            REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=True, httponly=True, samesite="strict"
        )
        response.delete_cookie(CSRF_COOKIE, path="/", secure=True, httponly=False, samesite="strict")

    def refresh_token(self, request: Request) -> str | None:
        """The refresh token of the cookie, once the CSRF header matches; None without the cookie."""
        if not self.enabled:
            return None
        token = request.cookies.get(REFRESH_COOKIE)
        if token is None:
            return None
        header = request.headers.get(CSRF_HEADER, "")
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not header or not expected or not secrets.compare_digest(header.encode(), expected.encode()):
            raise CsrfTokenMismatch()
        return token


async def get_session_cookies(request: Request) -> SessionCookies:
    settings: Settings = request.app.state.settings
    return SessionCookies(enabled=settings.refresh_cookie)


SessionCookiesDep = Annotated[SessionCookies, Depends(get_session_cookies)]
