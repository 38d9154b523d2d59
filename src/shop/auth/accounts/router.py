"""HTTP endpoints of the accounts capability: thin — guard, input, one service call, response model."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import EmailStr

from shop.auth import errors
from shop.auth.accounts.schemas import (
    AdminUserPatch,
    ChangePasswordRequest,
    DeleteAccountRequest,
    EmailChangeRequest,
    ExportRequest,
    MessageResponse,
    PasswordResetRequest,
    PersonalDataExport,
    ProtectedResponse,
    RegisterRequest,
    RegisterResponse,
    TokenRequest,
    UserOut,
)
from shop.auth.dependencies import (
    AccountServiceDep,
    ClientDep,
    EmailChangeServiceDep,
    ExportServiceDep,
)
from shop.auth.errors import ADMIN_ERRORS
from shop.auth.models import User
from shop.auth.paths import AUTH_PREFIX
from shop.auth.schemas import EmailRequest
from shop.core.db import READS_ONLY
from shop.core.errors import (
    InvalidInput,
    NotFound,
    RateLimited,
)
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.ratelimit import limit_by_address
from shop.core.routing import ADMIN_PREFIX
from shop.core.security import AdminUser, CurrentUser, UnheldUser

router = APIRouter(prefix=AUTH_PREFIX, tags=["auth"], generate_unique_id_function=operation_ids("auth"))
# The admin user routes belong to auth (API.md): their operation ids are `auth_…` too.
admin_router = APIRouter(
    prefix=ADMIN_PREFIX, tags=["admin"], generate_unique_id_function=operation_ids("auth")
)


ACCEPTED = "If the address belongs to an account, we have sent it an email."


register_limit = Depends(limit_by_address("register", lambda settings: settings.rate_limit_register))
resend_limit = Depends(limit_by_address("resend-verification", lambda settings: settings.rate_limit_email))
reset_limit = Depends(limit_by_address("password-reset-request", lambda settings: settings.rate_limit_email))


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


@router.get(
    "/me", dependencies=[READS_ONLY], response_model=UserOut, responses=problem_responses(bearer=True)
)
async def me(principal: CurrentUser) -> UserOut:
    """The signed-in account."""
    # As the bearer guard read it, a moment ago, to let this request in.
    return UserOut.model_validate(principal.account, from_attributes=True)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(
        errors.InvalidCurrentPassword,
        errors.ReauthenticationRequired,
        errors.AccountLocked,
        errors.LastAdmin,
        RateLimited,
        bearer=True,
    ),
)
async def delete_me(
    body: DeleteAccountRequest, principal: UnheldUser, service: AccountServiceDep, client: ClientDep
) -> Response:
    """Delete the account and everything shop holds for it (profile, addresses, sessions). The
    email address can register again. The last active admin cannot delete itself (409
    `last_admin`). An account without a password leaves `password` out and must have signed in
    within REAUTH_MAX_AGE_SECONDS (else 403 `reauthentication_required`)."""
    await service.delete(principal.user_id, principal.session_id, body.password, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/protected",
    dependencies=[READS_ONLY],
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
    "/users",
    dependencies=[READS_ONLY],
    response_model=list[UserOut],
    responses=problem_responses(*ADMIN_ERRORS, bearer=True),
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


# -- the owner's self-service: email change, personal-data export --------------------------------

EMAIL_CHANGE_ASKED = (
    "We have sent a link to the new address; the change is made when it is opened. "
    "Your current address has been told."
)


@router.post(
    "/email-change",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageResponse,
    responses=problem_responses(
        errors.InvalidCurrentPassword,
        errors.ReauthenticationRequired,
        errors.AccountLocked,
        InvalidInput,
        RateLimited,
        bearer=True,
    ),
)
async def email_change(
    body: EmailChangeRequest, principal: CurrentUser, service: EmailChangeServiceDep, client: ClientDep
) -> MessageResponse:
    """Ask to move the account to another address. The new address gets a link (valid as long as a
    verification link) that makes the change; the current address is told of the ask. A newer ask
    spends the older links.

    The answer is the same when the new address belongs to another account: that address is then
    mailed that it already has an account, instead of a link. A wrong password counts as a failed
    login. Asks are limited per account and per new address, as password-reset asks are."""
    await service.ask(principal.user_id, principal.session_id, body.new_email, body.password, client)
    return MessageResponse(message=EMAIL_CHANGE_ASKED)


@router.post(
    "/email-change/confirm",
    response_model=MessageResponse,
    responses=problem_responses(errors.EmailTokenInvalid, errors.EmailTaken),
)
async def email_change_confirm(
    body: TokenRequest, service: EmailChangeServiceDep, client: ClientDep
) -> MessageResponse:
    """Make the change with the token of the link mailed to the new address: the account's email is
    the new one, verified, from now on; the old address is told. Sessions stay signed in.

    400 `token_invalid` for an unknown, used or expired token; 409 `email_taken` when another
    account took the address since the ask."""
    await service.confirm(body.token, client)
    return MessageResponse(message="Your email address is changed.")


@router.post(
    "/me/export",
    response_model=PersonalDataExport,
    responses=problem_responses(
        errors.InvalidCurrentPassword,
        errors.ReauthenticationRequired,
        errors.AccountLocked,
        RateLimited,
        InvalidInput,
        bearer=True,
    ),
)
async def export_personal_data(
    body: ExportRequest, principal: CurrentUser, service: ExportServiceDep, client: ClientDep
) -> Response:
    """Everything shop holds about the account, as one JSON document to download (`Content-Disposition:
    attachment`): the account, profile, addresses, sessions, passkeys, linked providers, two-step
    sign-in and the account's security events — and no secret of any kind. Three per hour per
    account; a wrong password counts as a failed login."""
    account = UserOut.model_validate(principal.account, from_attributes=True)  # as GET /me answers
    document = await service.export(principal.user_id, principal.session_id, account, body.password, client)
    return Response(
        document.model_dump_json(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="shop-export-{principal.user_id}.json"'},
    )
