"""Request and response bodies of the accounts capability."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shop.auth.schemas import Email, Password, StrictBody


class _ConfirmedPassword(StrictBody):
    @model_validator(mode="after")
    def _passwords_match(self) -> _ConfirmedPassword:
        if getattr(self, "confirm_password", None) != self._new_password():
            raise ValueError("confirm_password does not match the password")
        return self

    def _new_password(self) -> str:
        return str(getattr(self, "password", ""))


class RegisterRequest(_ConfirmedPassword):
    email: Email
    password: Password
    confirm_password: Password

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "password": "correct horse battery",
                    "confirm_password": "correct horse battery",
                }
            ]
        },
    )


class RegisterResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "Account created. Check your email to verify your address.",
                    "user_id": "3f2b8c1e-7a4d-4e9b-9c0f-1d2e3f4a5b6c",
                }
            ]
        }
    )

    message: str
    user_id: uuid.UUID


class MessageResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": "Email verified. You can sign in now."}]}
    )

    message: str


class TokenRequest(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "Qm9vdHN0cmFwIHRva2VuIGZyb20gdGhlIG1haWw"}]}
    )

    token: Annotated[str, Field(min_length=1, max_length=512)]


class PasswordResetRequest(_ConfirmedPassword):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "Qm9vdHN0cmFwIHRva2VuIGZyb20gdGhlIG1haWw",
                    "password": "a new horse battery",
                    "confirm_password": "a new horse battery",
                }
            ]
        }
    )

    token: Annotated[str, Field(min_length=1, max_length=512)]
    password: Password
    confirm_password: Password


class ChangePasswordRequest(_ConfirmedPassword):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "correct horse battery",
                    "new_password": "a new horse battery",
                    "confirm_password": "a new horse battery",
                }
            ]
        }
    )

    current_password: Password
    new_password: Password
    confirm_password: Password

    def _new_password(self) -> str:
        return self.new_password


class DeleteAccountRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})

    password: Password


class UserOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f2b8c1e-7a4d-4e9b-9c0f-1d2e3f4a5b6c",
                    "email": "ada@example.com",
                    "email_verified": True,
                    "is_active": True,
                    "role": "customer",
                    "mfa_enabled": False,
                    "passkeys": 1,
                    "created_at": "2026-11-20T09:30:00Z",
                    "last_login_at": "2026-11-21T08:15:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    email: str
    email_verified: bool
    is_active: bool
    role: Literal["customer", "admin"]
    mfa_enabled: bool
    passkeys: int = Field(description="How many passkeys the account holds.")
    created_at: datetime
    last_login_at: datetime | None


class ProtectedResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"message": "You are signed in.", "user_id": "3f2b8c1e-7a4d-4e9b-9c0f-1d2e3f4a5b6c"}]
        }
    )

    message: str
    user_id: uuid.UUID


class AdminUserPatch(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"is_active": False}]})

    is_active: bool | None = None
    role: Literal["customer", "admin"] | None = None
