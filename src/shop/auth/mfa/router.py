"""HTTP endpoints of two-step sign-in."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response, status

from shop.auth import errors
from shop.auth.dependencies import (
    ClientDep,
    MfaServiceDep,
)
from shop.auth.errors import ADMIN_ERRORS
from shop.auth.mfa.schemas import (
    MfaConfirmRequest,
    MfaManageRequest,
    MfaSetupRequest,
    MfaVerifyRequest,
    RecoveryCodesResponse,
    TotpSetupResponse,
)
from shop.auth.paths import AUTH_PREFIX
from shop.auth.sessions.cookies import SessionCookiesDep, same_site_sign_in
from shop.auth.sessions.schemas import TokenPair
from shop.core.errors import (
    NotFound,
    RateLimited,
)
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.ratelimit import limit_by_address
from shop.core.routing import ADMIN_PREFIX
from shop.core.security import AdminUser, CurrentUser

router = APIRouter(prefix=AUTH_PREFIX, tags=["auth"], generate_unique_id_function=operation_ids("auth"))
# The admin user routes belong to auth (API.md): their operation ids are `auth_…` too.
admin_router = APIRouter(
    prefix=ADMIN_PREFIX, tags=["admin"], generate_unique_id_function=operation_ids("auth")
)


verify_limit = Depends(limit_by_address("mfa-verify", lambda settings: settings.rate_limit_login))


@router.post(
    "/mfa/totp/setup",
    response_model=TotpSetupResponse,
    responses=problem_responses(
        errors.InvalidCurrentPassword,
        errors.ReauthenticationRequired,
        errors.MfaEnabled,
        errors.AccountLocked,
        RateLimited,
        bearer=True,
    ),
)
async def mfa_setup(
    body: MfaSetupRequest, principal: CurrentUser, service: MfaServiceDep, client: ClientDep
) -> TotpSetupResponse:
    """Start two-step sign-in: a new secret for an authenticator app, as text, as an `otpauth://`
    URI and as an SVG QR code. Nothing is active until `/mfa/totp/confirm` accepts a code from the
    app; a new setup replaces a pending one. A wrong password counts as a failed login."""
    return await service.mfa_setup(principal.user_id, principal.session_id, body.password, client)


@router.post(
    "/mfa/totp/confirm",
    response_model=RecoveryCodesResponse,
    responses=problem_responses(
        errors.InvalidCode, errors.MfaEnabled, NotFound, errors.AccountLocked, bearer=True
    ),
)
async def mfa_confirm(
    body: MfaConfirmRequest, principal: CurrentUser, service: MfaServiceDep, client: ClientDep
) -> RecoveryCodesResponse:
    """Turn two-step sign-in on with a first code from the app. Answers ten single-use recovery codes,
    shown this once; every other session is signed out and the user is mailed."""
    codes = await service.mfa_confirm(principal.user_id, principal.session_id, body.code, client)
    return RecoveryCodesResponse(recovery_codes=codes)


# Turning two-step sign-in off and replacing the recovery codes re-check the password and a code.
_MFA_MANAGE_ERRORS = problem_responses(
    errors.InvalidCurrentPassword,
    errors.ReauthenticationRequired,
    errors.InvalidCode,
    NotFound,
    errors.AccountLocked,
    RateLimited,
    bearer=True,
)


@router.delete(
    "/mfa/totp",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_MFA_MANAGE_ERRORS,
)
async def mfa_disable(
    body: MfaManageRequest, principal: CurrentUser, service: MfaServiceDep, client: ClientDep
) -> Response:
    """Turn two-step sign-in off, with the password and a code (an app code or a recovery code).
    Every other session is signed out and the user is mailed. Wrong passwords and codes count as
    failed logins."""
    await service.mfa_disable(principal.user_id, principal.session_id, body.password, body.code, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/mfa/recovery-codes",
    response_model=RecoveryCodesResponse,
    responses=_MFA_MANAGE_ERRORS,
)
async def mfa_recovery_codes(
    body: MfaManageRequest, principal: CurrentUser, service: MfaServiceDep, client: ClientDep
) -> RecoveryCodesResponse:
    """Ten new recovery codes, with the password and a code (an app code or a recovery code); the
    old ones stop working. Wrong passwords and codes count as failed logins."""
    codes = await service.mfa_new_recovery_codes(
        principal.user_id, principal.session_id, body.password, body.code, client
    )
    return RecoveryCodesResponse(recovery_codes=codes)


@router.post(
    "/mfa/verify",
    response_model=TokenPair,
    response_model_exclude_none=True,
    dependencies=[Depends(same_site_sign_in), verify_limit],
    responses=problem_responses(
        errors.InvalidSecondStep, errors.AccountLocked, errors.AccountDisabled, errors.CsrfFailed, RateLimited
    ),
)
async def mfa_verify(
    body: MfaVerifyRequest,
    service: MfaServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    response: Response,
) -> TokenPair:
    """The second step of a login: the `mfa_token` of the `mfa_required` answer with a `code` from
    the authenticator app or a `recovery_code`. Answers the token pair of a new session (its tokens
    carry `amr: ["pwd", "otp"]`).

    A wrong code, and an unknown, spent or expired `mfa_token`, answer the same 401 `invalid_code`.
    A wrong code counts as a failed login (the 5th locks the account); after 5 wrong codes the
    `mfa_token` is spent. A code is accepted once; a recovery code works once.

    Swagger UI's Authorize form cannot do this step: call this endpoint, then paste the
    `access_token` into Authorize's bearer field. In SPA cookie mode the refresh token is set as
    the `__Secure-shop_refresh` cookie, as at /login (and a request from another site is refused)."""
    return cookies.issue(
        response, await service.mfa_verify(body.mfa_token, body.code, body.recovery_code, client)
    )


@admin_router.delete(
    "/users/{user_id}/mfa",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(NotFound, *ADMIN_ERRORS, bearer=True),
)
async def admin_turn_off_mfa(
    user_id: uuid.UUID, principal: AdminUser, service: MfaServiceDep, client: ClientDep
) -> Response:
    """Admin: turn two-step sign-in off for a user who lost their device (their recovery codes go
    too). Audited; the user is mailed. 404 when there is no such user or two-step sign-in is off."""
    await service.admin_turn_off_mfa(principal.user_id, user_id, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
