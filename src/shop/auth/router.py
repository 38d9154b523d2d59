"""HTTP endpoints of the auth context: thin — guard, input, one service call, response model."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import EmailStr

from shop.auth import errors
from shop.auth.cookies import CsrfTokenMismatch, SessionCookiesDep
from shop.auth.dependencies import (
    AccountServiceDep,
    ClientDep,
    MfaServiceDep,
    SessionServiceDep,
    SigningKeyServiceDep,
)
from shop.auth.models import SigningKey, User
from shop.auth.oauth2 import OAuth2TokenRoute
from shop.auth.passkeys.router import router as passkeys_router
from shop.auth.passwords import MAX_PASSWORD_LENGTH
from shop.auth.schemas import (
    AdminUserPatch,
    AuthorizationServerMetadata,
    ChangePasswordRequest,
    DeleteAccountRequest,
    EmailRequest,
    JsonWebKeySet,
    LoginRequest,
    LogoutRequest,
    MessageResponse,
    MfaConfirmRequest,
    MfaManageRequest,
    MfaSetupRequest,
    MfaVerifyRequest,
    PasswordResetRequest,
    ProtectedResponse,
    RecoveryCodesResponse,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    SessionOut,
    SigningKeyOut,
    TokenPair,
    TokenRequest,
    TotpSetupResponse,
    UserOut,
)
from shop.core.errors import (
    Forbidden,
    InvalidInput,
    MfaRequired,
    NotFound,
    RateLimited,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
)
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.ratelimit import limit_by_address
from shop.core.security import AdminUser, CurrentUser, UnheldUser

router = APIRouter(tags=["auth"], generate_unique_id_function=operation_ids("auth"))
# The admin user routes belong to auth (API.md): their operation ids are `auth_…` too.
admin_router = APIRouter(tags=["admin"], generate_unique_id_function=operation_ids("auth"))

LOGIN_ERRORS = (
    errors.InvalidCredentials,
    errors.EmailNotVerified,
    errors.AccountDisabled,
    errors.AccountLocked,
    errors.SecondStepRequired,
    RateLimited,
)
ADMIN_ERRORS = (Forbidden, MfaRequired)
ACCEPTED = "If the address belongs to an account, we have sent it an email."
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

register_limit = Depends(limit_by_address("register", lambda settings: settings.rate_limit_register))
# /login and /token share one budget.
login_limit = Depends(limit_by_address("login", lambda settings: settings.rate_limit_login))
resend_limit = Depends(limit_by_address("resend-verification", lambda settings: settings.rate_limit_email))
reset_limit = Depends(limit_by_address("password-reset-request", lambda settings: settings.rate_limit_email))
verify_limit = Depends(limit_by_address("mfa-verify", lambda settings: settings.rate_limit_login))


def _user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterResponse,
    dependencies=[register_limit],
    responses=problem_responses(errors.EmailTaken, RateLimited, InvalidInput),
)
async def register(body: RegisterRequest, service: AccountServiceDep, client: ClientDep) -> RegisterResponse:
    """Create an account and email a verification link. Sign-in needs a verified email.

    Passwords: 8 to 128 characters, not the email, not a commonly breached password."""
    user_id = await service.register(body.email, body.password, client)
    return RegisterResponse(
        message="Account created. Check your email to verify your address.", user_id=user_id
    )


@router.post(
    "/verify-email",
    response_model=MessageResponse,
    responses=problem_responses(errors.EmailTokenInvalid),
)
async def verify_email(body: TokenRequest, service: AccountServiceDep, client: ClientDep) -> MessageResponse:
    """Confirm an email address with the token from the verification link."""
    await service.verify_email(body.token, client)
    return MessageResponse(message="Email verified. You can sign in now.")


@router.post(
    "/resend-verification",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageResponse,
    dependencies=[resend_limit],
    responses=problem_responses(RateLimited),
)
async def resend_verification(
    body: EmailRequest, service: AccountServiceDep, client: ClientDep
) -> MessageResponse:
    """Send a new verification link. The answer is the same whether or not the account exists."""
    await service.resend_verification(body.email, client)
    return MessageResponse(message=ACCEPTED)


@router.post(
    "/login",
    response_model=TokenPair,
    response_model_exclude_none=True,
    dependencies=[login_limit],
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
    refresh token is set as the `shop_refresh` cookie instead of being in the body.

    With two-step sign-in on, a correct password answers 403 `mfa_required` with the members
    `mfa_token` (single use, 5 minutes, from this client address only) and `methods`
    (`["totp", "recovery_code"]`): send it with a code to `/mfa/verify` to get the token pair."""
    return cookies.issue(response, await service.login(body.email, body.password, client))


async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    service: SessionServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    response: Response,
) -> TokenPair:
    """The OAuth2 password flow (form fields `username` = email, `password`), for Swagger UI's
    Authorize button. Same rules and rate limit as /login. Each refusal is a problem that also carries
    the OAuth2 members `error` (`invalid_request` for 422, `invalid_grant` for 401, 403 and 423,
    `slow_down` for 429) and `error_description`."""
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
    dependencies=[login_limit],
    responses=problem_responses(*LOGIN_ERRORS, InvalidInput),
    openapi_extra=TOKEN_FORM_EXAMPLE,
    route_class_override=OAuth2TokenRoute,
)


@router.post(
    "/refresh",
    response_model=TokenPair,
    response_model_exclude_none=True,
    responses=problem_responses(
        TokenInvalid,
        TokenExpired,
        errors.TokenReused,
        TokenRevoked,
        CsrfTokenMismatch,
        InvalidInput,
    ),
)
async def refresh(
    *,
    service: SessionServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    request: Request,
    response: Response,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> TokenPair:
    """Trade a refresh token for a new pair. The old refresh token is spent: presenting it again
    revokes the session (except within a few seconds, the race of two tabs refreshing at once).

    In SPA cookie mode a request with the `shop_refresh` cookie needs `X-CSRF-Token` equal to the
    `shop_csrf` cookie (else 403 `forbidden`) and the body is not needed; without the cookie the
    body's `refresh_token` is used."""
    presented = cookies.refresh_token(request) or (body.refresh_token if body is not None else None)
    if presented is None:
        raise InvalidInput(["body", "refresh_token"], "Field required", "missing")
    return cookies.issue(response, await service.refresh(presented, client))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(CsrfTokenMismatch, bearer=True),
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
    mode it clears both cookies, and a request with the `shop_refresh` cookie needs `X-CSRF-Token`."""
    cookies.refresh_token(request)  # the CSRF check, when the cookie is there
    await service.logout(principal.user_id, principal.session_id, client)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    cookies.clear(response)
    return response


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(bearer=True))
async def logout_all(principal: CurrentUser, service: SessionServiceDep, client: ClientDep) -> Response:
    """End every session of the user, on every device."""
    await service.logout_all(principal.user_id, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password-reset-request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageResponse,
    dependencies=[reset_limit],
    responses=problem_responses(RateLimited),
)
async def password_reset_request(
    body: EmailRequest, service: AccountServiceDep, client: ClientDep
) -> MessageResponse:
    """Email a password-reset link (valid 1 hour). The answer is the same whether or not the
    account exists."""
    await service.request_password_reset(body.email, client)
    return MessageResponse(message=ACCEPTED)


@router.post(
    "/password-reset",
    response_model=MessageResponse,
    responses=problem_responses(errors.EmailTokenInvalid, InvalidInput),
)
async def password_reset(
    body: PasswordResetRequest, service: AccountServiceDep, client: ClientDep
) -> MessageResponse:
    """Set a new password with the token from the reset link. Every session is signed out and
    any lockout is lifted."""
    await service.reset_password(body.token, body.password, client)
    return MessageResponse(message="Password changed. Sign in with your new password.")


@router.post(
    "/change-password",
    response_model=MessageResponse,
    responses=problem_responses(
        errors.InvalidCurrentPassword, errors.AccountLocked, InvalidInput, RateLimited, bearer=True
    ),
)
async def change_password(
    body: ChangePasswordRequest, principal: CurrentUser, service: AccountServiceDep, client: ClientDep
) -> MessageResponse:
    """Change the password. Every other session is signed out; this one lives on."""
    await service.change_password(
        principal.user_id, principal.session_id, body.current_password, body.new_password, client
    )
    return MessageResponse(message="Password changed.")


@router.get("/me", response_model=UserOut, responses=problem_responses(bearer=True))
async def me(principal: CurrentUser) -> UserOut:
    """The signed-in account."""
    # As the bearer guard read it, a moment ago, to let this request in.
    return UserOut.model_validate(principal.account)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(
        errors.InvalidCurrentPassword, errors.AccountLocked, errors.LastAdmin, RateLimited, bearer=True
    ),
)
async def delete_me(
    body: DeleteAccountRequest, principal: UnheldUser, service: AccountServiceDep, client: ClientDep
) -> Response:
    """Delete the account and everything shop holds for it (profile, addresses, sessions). The
    email address can register again. The last active admin cannot delete itself (409
    `last_admin`)."""
    await service.delete(principal.user_id, principal.session_id, body.password, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", response_model=list[SessionOut], responses=problem_responses(bearer=True))
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


@router.post(
    "/mfa/totp/setup",
    response_model=TotpSetupResponse,
    responses=problem_responses(
        errors.InvalidCurrentPassword, errors.MfaEnabled, errors.AccountLocked, RateLimited, bearer=True
    ),
)
async def mfa_setup(
    body: MfaSetupRequest, principal: CurrentUser, service: MfaServiceDep, client: ClientDep
) -> TotpSetupResponse:
    """Start two-step sign-in: a new secret for an authenticator app, as text, as an `otpauth://`
    URI and as an SVG QR code. Nothing is active until `/mfa/totp/confirm` accepts a code from the
    app; a new setup replaces a pending one. A wrong password counts as a failed login."""
    return await service.mfa_setup(principal.user_id, body.password, client)


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
    codes = await service.mfa_new_recovery_codes(principal.user_id, body.password, body.code, client)
    return RecoveryCodesResponse(recovery_codes=codes)


@router.post(
    "/mfa/verify",
    response_model=TokenPair,
    response_model_exclude_none=True,
    dependencies=[verify_limit],
    responses=problem_responses(
        errors.InvalidSecondStep, errors.AccountLocked, errors.AccountDisabled, RateLimited
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
    the `shop_refresh` cookie, as at /login."""
    return cookies.issue(
        response, await service.mfa_verify(body.mfa_token, body.code, body.recovery_code, client)
    )


@router.get(
    "/protected",
    response_model=ProtectedResponse,
    responses=problem_responses(bearer=True),
    summary="Demo: a protected resource",
    openapi_extra={"x-demo": True},
)
async def protected(principal: CurrentUser) -> ProtectedResponse:
    """A demonstration endpoint, kept for trying a token out (Swagger UI's Authorize button): it
    holds nothing but answers only a signed-in user."""
    return ProtectedResponse(message="You are signed in.", user_id=principal.user_id)


@admin_router.get(
    "/users", response_model=list[UserOut], responses=problem_responses(*ADMIN_ERRORS, bearer=True)
)
async def admin_users(
    _: AdminUser, service: AccountServiceDep, email: Annotated[EmailStr | None, Query()] = None
) -> list[UserOut]:
    """Admin: find a user by exact email (case-insensitive), or list the newest 50."""
    return [_user_out(user) for user in await service.list_newest(email)]


@admin_router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    responses=problem_responses(NotFound, errors.LastAdmin, *ADMIN_ERRORS, bearer=True),
)
async def admin_update_user(
    user_id: uuid.UUID,
    body: AdminUserPatch,
    principal: AdminUser,
    service: AccountServiceDep,
    client: ClientDep,
) -> UserOut:
    """Admin: activate or deactivate an account, or change its role. Deactivating signs the user
    out everywhere at once. The last active admin can be neither demoted nor deactivated (409
    `last_admin`)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return _user_out(await service.admin_update(principal.user_id, user_id, changes, client))


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


# -- keys: for other services ----------------------------------------------------------------------

keys_router = APIRouter(tags=["keys"])

# At most 300 s (API.md). Shorter is safer: a `next` key is published from one rotation to the
# next, so a verifier that follows max-age knows it before it signs unless two rotations come
# within this many seconds — and then its refetch on an unknown `kid` still finds it.
JWKS_MAX_AGE = 60
METADATA_MAX_AGE = 300


@keys_router.get(
    "/.well-known/jwks.json",
    response_model=JsonWebKeySet,
    operation_id="keys_jwks",
    summary="Public keys that verify access tokens (JWKS)",
)
async def jwks(service: SigningKeyServiceDep, response: Response) -> dict[str, Any]:
    """The public keys (RFC 7517) another service needs to verify shop's access tokens: the
    `active` key, the `next` key (published before it signs) and `retired` keys until every token
    they signed has expired. Pick the key by the token's `kid` and verify with the key's `alg`.
    Cache the set for `max-age` and fetch it again on an unknown `kid`. Empty with HS256."""
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return {"keys": await service.published()}


@keys_router.get(
    "/.well-known/oauth-authorization-server",
    response_model=AuthorizationServerMetadata,
    operation_id="keys_authorization_server_metadata",
    summary="Authorization server metadata (RFC 8414)",
)
async def authorization_server_metadata(service: SigningKeyServiceDep, response: Response) -> dict[str, Any]:
    """Where the keys are (`jwks_uri`), which `issuer` access tokens carry, and the token endpoint
    (the OAuth2 password grant of `/api/v1/auth/token`). shop has no authorization endpoint."""
    response.headers["Cache-Control"] = f"public, max-age={METADATA_MAX_AGE}"
    return service.metadata()


@admin_router.get(
    "/keys",
    response_model=list[SigningKeyOut],
    operation_id="keys_list",
    tags=["keys"],
    responses=problem_responses(Forbidden, bearer=True),
)
async def list_keys(_: AdminUser, service: SigningKeyServiceDep) -> list[SigningKey]:
    """Admin: the signing keys and their states (`next`, `active`, `retired`); never a private
    key. Empty with HS256."""
    return await service.listing()


@admin_router.post(
    "/keys/rotate",
    response_model=list[SigningKeyOut],
    operation_id="keys_rotate",
    tags=["keys"],
    responses=problem_responses(Forbidden, errors.KeyRotationUnavailable, bearer=True),
)
async def rotate_keys(principal: AdminUser, service: SigningKeyServiceDep) -> list[SigningKey]:
    """Admin: rotate now. `next` becomes active, the active key retires (it stays published until
    its last token has expired) and a new `next` is made. Every instance signs with the new key
    within 10 s; tokens signed before stay valid. 409 `key_rotation_unavailable` with HS256."""
    return await service.rotate(actor=principal.user_id)


# Each capability's routes, under auth's prefix.
router.include_router(passkeys_router)
