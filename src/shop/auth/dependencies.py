"""Injected values of the auth context: the service and the calling client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shop.auth.passwords import PasswordHasher
from shop.auth.service import AuthService, AuthTools, Client, SigningKeyService
from shop.core.db import SessionDep

USER_AGENT_MAX = 512


def _tools(request: Request) -> AuthTools:
    state = request.app.state
    tools: AuthTools | None = getattr(state, "auth_tools", None)
    if tools is None:
        tools = AuthTools(
            settings=state.settings,
            hasher=PasswordHasher(state.settings),
            tokens=state.access_tokens,
            limiter=state.rate_limiter,
        )
        state.auth_tools = tools
    return tools


def get_client(request: Request) -> Client:
    agent = request.headers.get("user-agent")
    ip = request.app.state.rate_limiter.client_ip(request)
    return Client(
        ip=str(ip) if ip is not None else None,
        user_agent=agent[:USER_AGENT_MAX] if agent else None,
        accept_language=request.headers.get("accept-language"),
    )


def get_auth_service(request: Request, session: SessionDep) -> AuthService:
    return AuthService(session, _tools(request))


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]
ClientDep = Annotated[Client, Depends(get_client)]


def get_signing_key_service(request: Request, session: SessionDep) -> SigningKeyService:
    return SigningKeyService(session, request.app.state.settings, request.app.state.access_tokens)


SigningKeyServiceDep = Annotated[SigningKeyService, Depends(get_signing_key_service)]
