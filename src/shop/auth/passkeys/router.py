"""HTTP endpoints of passkeys: thin — guard, input, one service call, response model."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response, status

from shop.auth import errors
from shop.auth.dependencies import ClientDep, PasskeyServiceDep, PasskeySignInServiceDep
from shop.auth.passkeys.schemas import (
    CREATION_OPTIONS_EXAMPLE,
    REQUEST_OPTIONS_EXAMPLE,
    AuthenticationOptionsRequest,
    NewPasskey,
    PasskeyOut,
    PasskeyRename,
    PasskeySignIn,
    PasswordConfirmation,
)
from shop.auth.paths import AUTH_PREFIX
from shop.auth.sessions.cookies import SessionCookiesDep, same_site_sign_in
from shop.auth.sessions.schemas import TokenPair
from shop.core.db import READS_ONLY
from shop.core.errors import InvalidInput, NotFound, RateLimited
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.ratelimit import limit_by_address
from shop.core.security import CurrentUser

router = APIRouter(
    prefix=f"{AUTH_PREFIX}/passkeys", tags=["auth"], generate_unique_id_function=operation_ids("auth")
)

# The options and the sign-in share one budget per address, apart from the password login's.
passkey_limit = Depends(limit_by_address("passkey", lambda settings: settings.rate_limit_passkey))


def _options_example(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": example}}}}


@router.post(
    "/registration-options",
    response_model=dict[str, Any],
    responses=_options_example(CREATION_OPTIONS_EXAMPLE)
    | problem_responses(
        errors.InvalidCurrentPassword,
        errors.ReauthenticationRequired,
        errors.AccountLocked,
        errors.EmailNotVerified,
        errors.PasskeyLimit,
        RateLimited,
        InvalidInput,
        bearer=True,
    ),
)
async def registration_options(
    body: PasswordConfirmation, principal: CurrentUser, service: PasskeyServiceDep, client: ClientDep
) -> dict[str, Any]:
    """Start adding a passkey: the `PublicKeyCredentialCreationOptionsJSON` to give to
    `navigator.credentials.create()` (through `PublicKeyCredential.parseCreationOptionsFromJSON()`).

    It asks for a discoverable credential with user verification, no attestation, the algorithms
    EdDSA, ES256 and RS256, and excludes the account's passkeys. Its challenge is single use and
    valid 5 minutes. Only an account with a verified email may add a passkey; 10 at most."""
    return await service.registration_options(principal.user_id, principal.session_id, body.password, client)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PasskeyOut,
    responses=problem_responses(
        errors.PasskeyInvalid, errors.PasskeyExists, errors.PasskeyLimit, bearer=True
    ),
)
async def add_passkey(
    body: NewPasskey, principal: CurrentUser, service: PasskeyServiceDep, client: ClientDep
) -> PasskeyOut:
    """Finish adding a passkey with the `RegistrationResponseJSON` of `navigator.credentials.create()`.
    Any failed check is 400 `passkey_invalid`; a credential registered before (to any account) is
    409 `passkey_exists`. The owner is told by mail."""
    passkey = await service.add(principal.user_id, body.credential, body.name, client)
    return PasskeyOut.model_validate(passkey)


@router.get(
    "", dependencies=[READS_ONLY], response_model=list[PasskeyOut], responses=problem_responses(bearer=True)
)
async def list_passkeys(principal: CurrentUser, service: PasskeyServiceDep) -> list[PasskeyOut]:
    """The account's passkeys, newest first."""
    return [PasskeyOut.model_validate(item) for item in await service.list(principal.user_id)]


@router.patch("/{passkey_id}", response_model=PasskeyOut, responses=problem_responses(NotFound, bearer=True))
async def rename_passkey(
    passkey_id: uuid.UUID, body: PasskeyRename, principal: CurrentUser, service: PasskeyServiceDep
) -> PasskeyOut:
    """Rename a passkey of the account."""
    return PasskeyOut.model_validate(await service.rename(principal.user_id, passkey_id, body.name))


@router.delete(
    "/{passkey_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*errors.SIGN_IN_METHOD_REMOVAL_ERRORS, InvalidInput, bearer=True),
)
async def remove_passkey(
    passkey_id: uuid.UUID,
    body: PasswordConfirmation,
    principal: CurrentUser,
    service: PasskeyServiceDep,
    client: ClientDep,
) -> Response:
    """Remove a passkey of the account (it can no longer sign in). The owner is told by mail."""
    await service.remove(principal.user_id, principal.session_id, passkey_id, body.password, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/authentication-options",
    response_model=dict[str, Any],
    dependencies=[passkey_limit],
    responses=_options_example(REQUEST_OPTIONS_EXAMPLE) | problem_responses(RateLimited),
)
async def authentication_options(
    service: PasskeyServiceDep, body: AuthenticationOptionsRequest | None = None
) -> dict[str, Any]:
    """Start a passkey sign-in: the `PublicKeyCredentialRequestOptionsJSON` to give to
    `navigator.credentials.get()` (through `PublicKeyCredential.parseRequestOptionsFromJSON()`). No
    email is asked: the authenticator offers the passkeys it holds for this site. The challenge is
    single use and valid 5 minutes."""
    return await service.authentication_options()


@router.post(
    "/authenticate",
    response_model=TokenPair,
    response_model_exclude_none=True,
    # In cookie mode a sign-in from another site is refused before it spends the address's budget.
    dependencies=[Depends(same_site_sign_in), passkey_limit],
    responses=problem_responses(
        errors.PasskeyNotAccepted, errors.AccountDisabled, errors.CsrfFailed, RateLimited
    ),
)
async def authenticate(
    body: PasskeySignIn,
    service: PasskeySignInServiceDep,
    client: ClientDep,
    cookies: SessionCookiesDep,
    response: Response,
) -> TokenPair:
    """Sign in with a passkey: the `AuthenticationResponseJSON` of `navigator.credentials.get()`. A
    new session whose tokens carry `amr: ["pop", "mfa"]`; no second step is asked (a passkey with
    user verification is two factors), and password lockout does not block it. Any failure is 401
    `invalid_credentials`. In SPA cookie mode the refresh token is set as a cookie, as by /login."""
    return cookies.issue(response, await service.authenticate(body.credential, client))
