"""HTTP endpoints of the owner's self-service: changing the email address, the personal-data export.
Included by auth's router, so they live under /api/v1/auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from shop.auth import errors
from shop.auth.accounts.email_change_service import EmailChangeService
from shop.auth.accounts.export_service import ExportService
from shop.auth.accounts.self_service_schemas import EmailChangeRequest, ExportRequest, PersonalDataExport
from shop.auth.dependencies import ClientDep, ToolsDep
from shop.auth.schemas import MessageResponse, TokenRequest
from shop.core.db import DatabaseDep, SessionDep
from shop.core.errors import InvalidInput, RateLimited
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.security import CurrentUser

router = APIRouter(tags=["auth"], generate_unique_id_function=operation_ids("auth"))

EMAIL_CHANGE_ASKED = (
    "We have sent a link to the new address; the change is made when it is opened. "
    "Your current address has been told."
)


async def get_email_change_service(
    session: SessionDep, database: DatabaseDep, tools: ToolsDep
) -> EmailChangeService:
    return EmailChangeService(session, database, tools)


async def get_export_service(session: SessionDep, database: DatabaseDep, tools: ToolsDep) -> ExportService:
    return ExportService(session, database, tools)


EmailChangeServiceDep = Annotated[EmailChangeService, Depends(get_email_change_service)]
ExportServiceDep = Annotated[ExportService, Depends(get_export_service)]


@router.post(
    "/email-change",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageResponse,
    responses=problem_responses(
        errors.InvalidCurrentPassword, errors.AccountLocked, InvalidInput, RateLimited, bearer=True
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
    await service.ask(principal.user_id, body.new_email, body.password, client)
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
        errors.InvalidCurrentPassword, errors.AccountLocked, RateLimited, bearer=True
    ),
)
async def export_personal_data(
    body: ExportRequest, principal: CurrentUser, service: ExportServiceDep, client: ClientDep
) -> Response:
    """Everything shop holds about the account, as one JSON document to download (`Content-Disposition:
    attachment`): the account, profile, addresses, sessions, passkeys, linked providers, two-step
    sign-in and the account's security events — and no secret of any kind. Three per hour per
    account; a wrong password counts as a failed login."""
    document = await service.export(
        principal.user_id, principal.session_id, principal.account, body.password, client
    )
    return Response(
        document.model_dump_json(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="shop-export-{principal.user_id}.json"'},
    )
