"""HTTP endpoints of the sessions capability: sign-in, refresh, sign-out and the list of sessions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from shop.auth import errors
from shop.auth.dependencies import (
    ClientDep,
    RefreshServiceDep,
    SessionServiceDep,
)
from shop.auth.passwords import MAX_PASSWORD_LENGTH
from shop.auth.paths import AUTH_PREFIX
from shop.auth.schemas import EmailRequest
from shop.auth.sessions.cookies import SessionCookiesDep, same_site_sign_in
from shop.auth.sessions.oauth2 import OAUTH2_PROBLEM_MEMBERS, OAuth2TokenRoute
from shop.auth.sessions.schemas import LoginRequest, LogoutRequest, RefreshRequest, SessionOut, TokenPair
from shop.core.db import READS_ONLY
from shop.core.errors import (
    InvalidInput,
    NotAuthenticated,
    NotFound,
    RateLimited,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
)
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.ratelimit import limit_by_address
from shop.core.security import CurrentUser
from shop.core.validation import LEFT_OUT_NOT_NULL

router = APIRouter(prefix=AUTH_PREFIX, tags=["auth"], generate_unique_id_function=operation_ids("auth"))


LOGIN_ERRORS = (
    errors.InvalidCredentials,
    errors.EmailNotVerified,
    errors.AccountDisabled,
    errors.SecondStepRequired,
    errors.CsrfFailed,
    errors.AccountLocked,
    RateLimited,
)
# Every route that sets cookie mode's cookies refuses a sign-in from another site (before its limit).
same_site = Depends(same_site_sign_in)


# The form is the framework's (OAuth2PasswordRequestForm): its example is given here.
TOKEN_FORM_EXAMPLE = {
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {
                "example": {
                    "grant_type": "password",
                    "username": "ada@example.com",
                    "password": "correct horse battery",
                }
            }
        }
    }
}


# /login and /token share one budget.
login_limit = Depends(limit_by_address("login", lambda settings: settings.rate_limit_login))


@router.post(
    "/login",
    response_model=TokenPair,
    response_model_exclude_none=True,
    dependencies=[same_site, login_limit],
    responses=problem_responses(*LOGIN_ERRORS),
)
async def login(
    body: LoginRequest,
    service: SessionServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    response: Response,
) -> TokenPair:
    """Sign in: a new session with an access token (1 hour) and a refresh token (30 days).

    The 5th consecutive failure locks the account (423, which tells that the account exists);
    each later lockout lasts twice as long as the last, up to 24 hours. In SPA cookie mode the
    refresh token is set as the `__Secure-shop_refresh` cookie instead of being in the body (which
    gives the CSRF value, `csrf_token`), and a sign-in from another site is 403 `csrf_failed`.

    With two-step sign-in on, a correct password answers 403 `mfa_required` with the members
    `mfa_token` (single use, 5 minutes, from this client address only) and `methods`
    (`["totp", "recovery_code"]`): send it with a code to `/mfa/verify` to get the token pair."""
    return cookies.issue(response, await service.login(body.email, body.password, client))


async def token(
    *,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    service: SessionServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    request: Request,
    response: Response,
) -> TokenPair:
    """The OAuth2 password flow (form fields `username` = email, `password`), for Swagger UI's
    Authorize button. Same rules and rate limit as /login. Each refusal is a problem that also carries
    the OAuth2 members `error` (`invalid_request` for 422, `invalid_grant` for 401, 403 and 423,
    `slow_down` for 429) and `error_description`. `grant_type` may be left out; sent, it is
    `password` (an empty one too is refused: 422 `invalid_request`)."""
    if (await request.form()).get("grant_type", "password") != "password":
        # The form class takes an empty field for a missing one; the schema asks `password`.
        raise InvalidInput(
            ["body", "grant_type"], "String should match pattern '^password$'", "string_pattern_mismatch"
        )
    try:
        email = EmailRequest(email=form.username).email
    except ValueError:
        raise errors.InvalidCredentials() from None
    if len(form.password) > MAX_PASSWORD_LENGTH:
        raise errors.InvalidCredentials()  # no account has such a password: spare argon2 the work
    return cookies.issue(response, await service.login(email, form.password, client))


# Registered by hand: the OAuth2 route class adds `error`/`error_description` to every refusal.
router.add_api_route(
    "/token",
    token,
    methods=["POST"],
    response_model=TokenPair,
    response_model_exclude_none=True,
    dependencies=[same_site, login_limit],
    responses=problem_responses(*LOGIN_ERRORS, InvalidInput, members=OAUTH2_PROBLEM_MEMBERS),
    openapi_extra=TOKEN_FORM_EXAMPLE,
    route_class_override=OAuth2TokenRoute,
)


@router.post(
    "/refresh",
    response_model=TokenPair,
    response_model_exclude_none=True,
    dependencies=[same_site],
    responses=problem_responses(
        TokenInvalid,
        TokenExpired,
        errors.TokenReused,
        TokenRevoked,
        errors.CsrfFailed,
        InvalidInput,
        NotAuthenticated,
    ),
)
async def refresh(
    *,
    service: RefreshServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    request: Request,
    response: Response,
    body: Annotated[RefreshRequest | None, Body(), LEFT_OUT_NOT_NULL] = None,
) -> TokenPair:
    """Trade a refresh token for a new pair. The old refresh token is spent: presenting it again
    revokes the session (except within a few seconds, the race of two tabs refreshing at once).

    In SPA cookie mode a request with the `__Secure-shop_refresh` cookie needs `X-CSRF-Token` equal
    to the CSRF value of that cookie's session (else 403 `csrf_failed`) and the body is not needed;
    without the cookie the body's `refresh_token` is used. With neither cookie nor body: 401
    `not_authenticated`."""
    if body is None and (await request.body()).strip():
        # JSON `null`, which the framework takes for "no body": the schema allows an object only.
        raise InvalidInput(["body"], "Input should be a valid dictionary or object", "model_type")
    cookie = cookies.refresh_token(request)
    if cookie is not None:
        pair = await service.refresh(
            cookie, client, check=lambda session: cookies.check_csrf(request, session)
        )
        return cookies.issue(response, pair)
    if body is None:
        raise NotAuthenticated("Send the refresh token in the body (or, in cookie mode, its cookie).")
    return cookies.issue(response, await service.refresh(body.refresh_token, client))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(errors.CsrfFailed, bearer=True),
)
async def logout(
    *,
    principal: CurrentUser,
    service: SessionServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    request: Request,
    _: Annotated[LogoutRequest | None, Body()] = None,
) -> Response:
    """End the session of this access token (its refresh token stops working too). In SPA cookie
    mode it clears both cookies, and a request with the `__Secure-shop_refresh` cookie needs
    `X-CSRF-Token` equal to the CSRF value of that cookie's session (else 403 `csrf_failed`)."""
    cookie = cookies.refresh_token(request)
    if cookie is not None:
        cookies.check_csrf(request, await service.session_of_refresh_token(cookie) or principal.session_id)
    await service.logout(principal.user_id, principal.session_id, client)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    cookies.clear(response)
    return response


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(bearer=True))
async def logout_all(principal: CurrentUser, service: SessionServiceDep, client: ClientDep) -> Response:
    """End every session of the user, on every device."""
    await service.logout_all(principal.user_id, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/sessions",
    dependencies=[READS_ONLY],
    response_model=list[SessionOut],
    responses=problem_responses(bearer=True),
)
async def sessions(principal: CurrentUser, service: SessionServiceDep) -> list[SessionOut]:
    """The live sessions of the user; `current` marks the one of this access token."""
    return [
        SessionOut(
            id=item.id,
            created_at=item.created_at,
            last_used_at=item.last_used_at,
            expires_at=item.expires_at,
            user_agent=item.user_agent,
            ip=str(item.ip) if item.ip is not None else None,
            current=item.id == principal.session_id,
        )
        for item in await service.list_live(principal.user_id)
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(NotFound, bearer=True),
)
async def revoke_session(
    session_id: uuid.UUID, principal: CurrentUser, service: SessionServiceDep, client: ClientDep
) -> Response:
    """Sign out one session (another device, or this one)."""
    await service.revoke(principal.user_id, session_id, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
