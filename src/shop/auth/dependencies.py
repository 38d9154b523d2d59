"""Injected values of the auth context: its services, built per request, and the calling client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shop.auth.service import AccountService, AuthTools, Client, MfaService, SessionService, SigningKeyService
from shop.core.db import DatabaseDep, SessionDep
from shop.core.ratelimit import RateLimiter

USER_AGENT_MAX = 512


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
    return SessionService(session, database, tools)


async def get_account_service(session: SessionDep, database: DatabaseDep, tools: ToolsDep) -> AccountService:
    return AccountService(session, database, tools)


async def get_mfa_service(session: SessionDep, database: DatabaseDep, tools: ToolsDep) -> MfaService:
    return MfaService(session, database, tools)


SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]
AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]
MfaServiceDep = Annotated[MfaService, Depends(get_mfa_service)]
ClientDep = Annotated[Client, Depends(get_client)]


async def get_signing_key_service(session: SessionDep, tools: ToolsDep) -> SigningKeyService:
    return SigningKeyService(session, tools.settings, tools.tokens)


SigningKeyServiceDep = Annotated[SigningKeyService, Depends(get_signing_key_service)]
