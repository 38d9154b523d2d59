"""Request and response bodies of the sessions capability."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shop.auth.schemas import Email, Password, StrictBody
from shop.core.validation import RequestModel


class LoginRequest(StrictBody):
    email: Email
    password: Password

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "ada@example.com", "password": "correct horse battery"}]},
    )


class RefreshRequest(StrictBody):
    """In SPA cookie mode the `shop_refresh` cookie, when present, is used instead."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "rT0k3n-Xf9aLq2WmZ8cVb4NyHs7Ue1Jd6Gp5Ko3Ri0Et"}]}
    )

    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class LogoutRequest(RequestModel):
    """Accepted and ignored: logout ends the session of the access token."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{}]})

    refresh_token: str | None = None


class TokenUser(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f2b8c1e-7a4d-4e9b-9c0f-1d2e3f4a5b6c",
                    "email": "ada@example.com",
                    "email_verified": True,
                }
            ]
        }
    )

    id: uuid.UUID
    email: str
    email_verified: bool


class TokenPair(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzZjJiOGMxZSJ9.c2lnbmF0dXJl",
                    "refresh_token": "rT0k3n-Xf9aLq2WmZ8cVb4NyHs7Ue1Jd6Gp5Ko3Ri0Et",
                    "token_type": "bearer",
                    "expires_in": 3600,
                    "refresh_expires_in": 2592000,
                    "user": {
                        "id": "3f2b8c1e-7a4d-4e9b-9c0f-1d2e3f4a5b6c",
                        "email": "ada@example.com",
                        "email_verified": True,
                    },
                }
            ]
        }
    )

    access_token: str
    refresh_token: str | None = Field(
        default=None,
        description="Absent in SPA cookie mode (REFRESH_COOKIE=true): the `shop_refresh` cookie holds it.",
    )
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")
    user: TokenUser


class SessionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a",
                    "created_at": "2026-11-20T09:30:00Z",
                    "last_used_at": "2026-11-21T08:15:00Z",
                    "expires_at": "2026-12-20T09:30:00Z",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                    "ip": "203.0.113.7",
                    "current": True,
                }
            ]
        }
    )

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool
