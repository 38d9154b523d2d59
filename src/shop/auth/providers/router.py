"""HTTP endpoints of provider sign-in: thin — guard, input, one service call, response model."""

from __future__ import annotations

import html
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from shop.auth import errors
from shop.auth.dependencies import ClientDep, ToolsDep, provider_service
from shop.auth.models import LinkedIdentity
from shop.auth.paths import AUTH_PREFIX
from shop.auth.providers.oidc import OidcProviders
from shop.auth.providers.schemas import (
    ExchangeRequest,
    IdentityOut,
    ProviderOut,
    StartRequest,
    StartResponse,
    UnlinkRequest,
)
from shop.auth.providers.service import ProviderService
from shop.auth.sessions.cookies import SessionCookiesDep, same_site_sign_in
from shop.auth.sessions.schemas import TokenPair
from shop.core.db import READS_ONLY, DatabaseDep, SessionDep, StatementSessionDep
from shop.core.errors import NotAuthenticated, NotFound, RateLimited, ServiceUnavailable
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.ratelimit import limit_by_address
from shop.core.security import Credentials, CurrentUser, OAuth2Flow, Principal, get_principal

router = APIRouter(prefix=AUTH_PREFIX, tags=["auth"], generate_unique_id_function=operation_ids("auth"))

# Starts and exchanges share one budget per client address.
oidc_limit = Depends(limit_by_address("oidc", lambda settings: settings.rate_limit_oidc))


async def get_providers(request: Request) -> OidcProviders:
    providers: OidcProviders = request.app.state.oidc_providers
    return providers


ProvidersDep = Annotated[OidcProviders, Depends(get_providers)]


async def get_provider_service(
    session: SessionDep, database: DatabaseDep, tools: ToolsDep, providers: ProvidersDep
) -> ProviderService:
    return provider_service(session, database, tools, providers)


ProviderServiceDep = Annotated[ProviderService, Depends(get_provider_service)]


async def get_exchange_service(
    session: StatementSessionDep, database: DatabaseDep, tools: ToolsDep, providers: ProvidersDep
) -> ProviderService:
    """The service of /oidc/exchange, whose unit of work is one statement (`OidcCodeRepository.exchange`)."""
    return provider_service(session, database, tools, providers)


ExchangeServiceDep = Annotated[ProviderService, Depends(get_exchange_service)]


async def optional_principal(
    request: Request, session: SessionDep, credentials: Credentials, flow: OAuth2Flow
) -> Principal | None:
    """The caller when a bearer token is sent (checked as everywhere), else None."""
    if credentials is None:
        return None
    return await get_principal(request, session, credentials, flow)


@router.get(
    "/oidc/providers",
    response_model=list[ProviderOut],
    # Read from the configuration, not the database; a shutting-down instance still answers 503.
    responses=problem_responses(ServiceUnavailable),
)
async def oidc_providers(providers: ProvidersDep) -> list[ProviderOut]:
    """The configured providers, for "Continue with …" buttons (whether or not each answers now)."""
    return [ProviderOut(name=p.name, display_name=p.display_name) for p in providers.listing()]


@router.post(
    "/oidc/{provider}/start",
    response_model=StartResponse,
    dependencies=[oidc_limit],
    responses=problem_responses(
        NotFound, errors.RedirectNotAllowed, NotAuthenticated, errors.ProviderUnavailable, RateLimited
    ),
)
async def oidc_start(
    provider: str,
    body: StartRequest,
    service: ProviderServiceDep,
    client: ClientDep,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> StartResponse:
    """Begin signing in (or, with a bearer token and `intent: "link"`, linking) with a provider.

    The SPA makes a PKCE verifier, keeps it, and sends its S256 `code_challenge`; it sends the
    browser to `authorization_url`. The provider sends it back to shop's callback, which sends it
    on to `redirect_to` with `?code=` (exchange it with the verifier at `/oidc/exchange`),
    `?linked={provider}`, or `?error=&error_description=` (`access_denied`, `provider_error`,
    `email_not_verified`, `account_exists`, `account_disabled`, `identity_in_use`).

    503 `service_unavailable` while the provider's metadata cannot be read."""
    url = await service.start(
        provider,
        redirect_to=body.redirect_to,
        code_challenge=body.code_challenge,
        intent=body.intent,
        user_id=principal.user_id if principal is not None else None,
        client=client,
    )
    return StartResponse(authorization_url=url)


STATE_INVALID_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in link expired</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>This sign-in cannot go on</h1><p>{detail}</p></main></body></html>"""


@router.get(
    "/oidc/{provider}/callback",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To the start's `redirect_to`, with `code`, `linked` or `error`."},
        **problem_responses(errors.OidcStateInvalid, NotFound),
    },
)
async def oidc_callback(
    *,
    provider: str,
    request: Request,
    # A GET that writes (it spends the state and may make an account, an identity and a one-time
    # code): it names no read session, so its session writes as any POST's.
    service: ProviderServiceDep,
    client: ClientDep,
    state: Annotated[str | None, Query(max_length=512)] = None,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    iss: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response:
    """Where the provider sends the browser back (the redirect URI registered with it). Not for
    clients to call. An `iss` (RFC 9207), when the provider sends one, must be its issuer. An unknown, spent or expired `state` answers 400 `oidc_state_invalid` (a
    small page to a browser): there is nowhere safe to send the browser."""
    try:
        target = await service.callback(
            provider, state=state, code=code, error=error, client=client, issuer=iss
        )
    except errors.OidcStateInvalid as exc:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        return HTMLResponse(
            STATE_INVALID_PAGE.format(detail=html.escape(exc.detail)),
            status_code=exc.status,
            headers={"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"},
        )
    return RedirectResponse(target, status_code=status.HTTP_302_FOUND)


@router.post(
    "/oidc/exchange",
    response_model=TokenPair,
    response_model_exclude_none=True,
    # In cookie mode a sign-in from another site is refused before it spends the address's budget.
    dependencies=[Depends(same_site_sign_in), oidc_limit],
    responses=problem_responses(
        errors.OidcCodeInvalid,
        errors.SecondStepRequired,
        errors.AccountDisabled,
        errors.CsrfFailed,
        RateLimited,
    ),
)
async def oidc_exchange(
    body: ExchangeRequest,
    service: ExchangeServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    response: Response,
) -> TokenPair:
    """Trade the one-time `code` of the callback's redirect (single use, 60 seconds) and the PKCE
    verifier of the start's `code_challenge` for a new session (its tokens carry `amr: ["fed"]`).
    With two-step sign-in on it answers 403 `mfa_required` as `/login` does; `/mfa/verify` then
    finishes (`amr: ["fed", "otp"]`). In SPA cookie mode the refresh token is set as a cookie."""
    return cookies.issue(response, await service.exchange(body.code, body.code_verifier, client))


@router.get(
    "/identities",
    dependencies=[READS_ONLY],
    response_model=list[IdentityOut],
    responses=problem_responses(bearer=True),
)
async def identities(principal: CurrentUser, service: ProviderServiceDep) -> list[LinkedIdentity]:
    """The providers linked to the account."""
    return await service.list_identities(principal.user_id)


@router.delete(
    "/identities/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*errors.SIGN_IN_METHOD_REMOVAL_ERRORS, bearer=True),
)
async def unlink_identity(
    identity_id: uuid.UUID,
    principal: CurrentUser,
    service: ProviderServiceDep,
    client: ClientDep,
    body: Annotated[UnlinkRequest | None, Body()] = None,
) -> Response:
    """Remove a linked provider: it no longer signs in to this account, and the owner is mailed.
    The password confirms it (an account without one: a sign-in within REAUTH_MAX_AGE_SECONDS).
    An account without a password cannot remove its last way to sign in (409
    `last_sign_in_method`)."""
    password = body.password if body is not None else None
    await service.unlink(principal.user_id, principal.session_id, identity_id, password, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
