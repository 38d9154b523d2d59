"""Injected values of the auth context: its services, built per request with their collaborators
(the `Lockout` and the `SessionMinter`), and the calling client. The `*_service` builders are the one
place a service is wired; the upkeep, the commands and the tests use them too."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.accounts.service import AccountService, EmailChangeService, ExportService
from shop.auth.keys.service import SigningKeyService
from shop.auth.lockout import Lockout
from shop.auth.mfa.service import MfaService
from shop.auth.passkeys.service import PasskeyService
from shop.auth.providers.oidc import OidcProviders
from shop.auth.providers.repository import SpentAtOnce
from shop.auth.providers.service import ProviderService
from shop.auth.reauth import Reauthentication
from shop.auth.sessions.repository import SessionRepository
from shop.auth.sessions.service import SessionMinter, SessionService
from shop.auth.tools import AuthTools, Client
from shop.core.db import Database, DatabaseDep, SessionDep, StatementSessionDep
from shop.core.ratelimit import RateLimiter

USER_AGENT_MAX = 512


def reauthentication(session: AsyncSession, tools: AuthTools, lockout: Lockout) -> Reauthentication:
    """What every endpoint that asks for the password confirms a sensitive act with."""
    return Reauthentication(
        SessionRepository(session), tools.settings.reauth_max_age_seconds, lockout.confirm_password
    )


def session_service(session: AsyncSession, database: Database, tools: AuthTools) -> SessionService:
    return SessionService(session, tools, Lockout(session, database, tools), SessionMinter(session, tools))


def account_service(session: AsyncSession, database: Database, tools: AuthTools) -> AccountService:
    lockout = Lockout(session, database, tools)
    return AccountService(session, tools, lockout, reauthentication(session, tools, lockout))


def provider_service(
    session: AsyncSession, database: Database, tools: AuthTools, providers: OidcProviders
) -> ProviderService:
    lockout = Lockout(session, database, tools)
    sign_in = SessionService(session, tools, lockout, SessionMinter(session, tools))
    return ProviderService(
        session, SpentAtOnce(database), tools, providers, sign_in, reauthentication(session, tools, lockout)
    )


def email_change_service(session: AsyncSession, database: Database, tools: AuthTools) -> EmailChangeService:
    lockout = Lockout(session, database, tools)
    return EmailChangeService(session, tools, lockout, reauthentication(session, tools, lockout))


def export_service(session: AsyncSession, database: Database, tools: AuthTools) -> ExportService:
    lockout = Lockout(session, database, tools)
    return ExportService(session, tools, reauthentication(session, tools, lockout))


def mfa_service(session: AsyncSession, database: Database, tools: AuthTools) -> MfaService:
    lockout = Lockout(session, database, tools)
    return MfaService(
        session, tools, lockout, SessionMinter(session, tools), reauthentication(session, tools, lockout)
    )


def passkey_service(session: AsyncSession, database: Database, tools: AuthTools) -> PasskeyService:
    lockout = Lockout(session, database, tools)
    return PasskeyService(
        session, tools, lockout, SessionMinter(session, tools), reauthentication(session, tools, lockout)
    )


async def get_tools(request: Request) -> AuthTools:
    tools: AuthTools = request.app.state.auth
    return tools


ToolsDep = Annotated[AuthTools, Depends(get_tools)]


async def get_client(request: Request) -> Client:
    agent = request.headers.get("user-agent")
    limiter: RateLimiter = request.app.state.rate_limiter
    ip = limiter.client_ip(request)
    return Client(
        ip=str(ip) if ip is not None else None,
        user_agent=agent[:USER_AGENT_MAX] if agent else None,
        accept_language=request.headers.get("accept-language"),
    )


async def get_session_service(session: SessionDep, database: DatabaseDep, tools: ToolsDep) -> SessionService:
    return session_service(session, database, tools)


async def get_refresh_service(
    session: StatementSessionDep, database: DatabaseDep, tools: ToolsDep
) -> SessionService:
    """The sessions service of /refresh, whose unit of work is one statement (`rotate_refresh_token`)."""
    return session_service(session, database, tools)


async def get_account_service(session: SessionDep, database: DatabaseDep, tools: ToolsDep) -> AccountService:
    return account_service(session, database, tools)


async def get_mfa_service(session: SessionDep, database: DatabaseDep, tools: ToolsDep) -> MfaService:
    return mfa_service(session, database, tools)


async def get_email_change_service(
    session: SessionDep, database: DatabaseDep, tools: ToolsDep
) -> EmailChangeService:
    return email_change_service(session, database, tools)


async def get_export_service(session: SessionDep, database: DatabaseDep, tools: ToolsDep) -> ExportService:
    return export_service(session, database, tools)


async def get_passkey_service(session: SessionDep, database: DatabaseDep, tools: ToolsDep) -> PasskeyService:
    return passkey_service(session, database, tools)


async def get_passkey_sign_in_service(
    session: StatementSessionDep, database: DatabaseDep, tools: ToolsDep
) -> PasskeyService:
    """The passkeys service of /passkeys/authenticate, on a one-statement session: its one write is
    the passkey's use with the new session; the challenge's claim before it is a SELECT to that
    session and commits by itself (the challenge is spent whatever follows)."""
    return passkey_service(session, database, tools)


SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]
RefreshServiceDep = Annotated[SessionService, Depends(get_refresh_service)]
AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]
MfaServiceDep = Annotated[MfaService, Depends(get_mfa_service)]
EmailChangeServiceDep = Annotated[EmailChangeService, Depends(get_email_change_service)]
ExportServiceDep = Annotated[ExportService, Depends(get_export_service)]
PasskeyServiceDep = Annotated[PasskeyService, Depends(get_passkey_service)]
PasskeySignInServiceDep = Annotated[PasskeyService, Depends(get_passkey_sign_in_service)]
ClientDep = Annotated[Client, Depends(get_client)]


async def get_signing_key_service(session: SessionDep, tools: ToolsDep) -> SigningKeyService:
    return SigningKeyService(session, tools.settings, tools.tokens)


SigningKeyServiceDep = Annotated[SigningKeyService, Depends(get_signing_key_service)]
