"""Request and response bodies of the accounts capability."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shop.auth.schemas import Email, NewPassword, Password, ReauthPassword, StrictBody


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
    password: NewPassword
    confirm_password: NewPassword

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
    password: NewPassword
    confirm_password: NewPassword


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
    new_password: NewPassword
    confirm_password: NewPassword

    def _new_password(self) -> str:
        return self.new_password


class DeleteAccountRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})

    password: ReauthPassword = None


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
                    "has_password": True,
                    "identities": ["google"],
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
    has_password: bool = Field(
        description="False for an account made by another provider, until a password is set by reset."
    )
    identities: list[str] = Field(description="The names of the providers linked to the account.")
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


# -- the owner's self-service: email change, personal-data export --------------------------------


class EmailChangeRequest(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"new_email": "ada@new.example.com", "password": "correct horse battery"}]
        }
    )

    new_email: Email
    password: ReauthPassword = None


class ExportRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})

    password: ReauthPassword = None


class ExportedSession(BaseModel):
    """A sign-in session as shop holds it (ended ones too, until they are purged)."""

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    user_agent: str | None
    ip: str | None
    amr: list[str] = Field(description="How the session signed in (RFC 8176): `pwd`, `otp`, ….")
    current: bool = Field(description="The session of the token that asked for this export.")


class ExportedMfa(BaseModel):
    enabled: bool
    recovery_codes_left: int


class ExportedAuditEvent(BaseModel):
    event: str
    outcome: str
    at: datetime
    ip: str | None


class ExportedEmailChange(BaseModel):
    """An ask to change the account's address; `status` says what became of its link."""

    old_email: str
    new_email: str
    asked_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    status: Literal["pending", "confirmed", "spent", "expired"]


class ExportedMail(BaseModel):
    """A mail shop sent (or is about to send) to one of the account's addresses; never its body."""

    to: str
    subject: str
    queued_at: datetime
    sent_at: datetime | None


class PersonalDataExport(BaseModel):
    """Everything shop holds about the account, and no secret (no hash, key, token or TOTP secret).
    Its JSON Schema is docs/export.schema.json."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "exported_at": "2026-12-05T10:00:00Z",
                    "account": {
                        "id": "3f2b8c1e-7a4d-4e9b-9c0f-1d2e3f4a5b6c",
                        "email": "ada@example.com",
                        "email_verified": True,
                        "is_active": True,
                        "role": "customer",
                        "mfa_enabled": True,
                        "created_at": "2026-11-20T09:30:00Z",
                        "last_login_at": "2026-12-05T09:58:00Z",
                        "has_password": True,
                        "identities": ["google"],
                        "passkeys": 1,
                    },
                    "profile": {
                        "user_id": "3f2b8c1e-7a4d-4e9b-9c0f-1d2e3f4a5b6c",
                        "first_name": "Ada",
                        "last_name": "Lovelace",
                        "phone": "+442079460958",
                        "preferred_language": "en",
                        "preferred_currency": "GBP",
                        "created_at": "2026-11-20T09:30:00Z",
                        "updated_at": "2026-11-21T12:30:00Z",
                    },
                    "addresses": [],
                    "sessions": [
                        {
                            "id": "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a",
                            "created_at": "2026-12-05T09:58:00Z",
                            "last_used_at": "2026-12-05T09:58:00Z",
                            "expires_at": "2027-01-04T09:58:00Z",
                            "revoked_at": "2026-12-05T11:00:00Z",
                            "revoked_reason": "logout",
                            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                            "ip": "203.0.113.7",
                            "amr": ["pwd", "otp"],
                            "current": True,
                        }
                    ],
                    "passkeys": [
                        {
                            "id": "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b",
                            "name": "Laptop",
                            "created_at": "2026-12-05T09:30:00Z",
                            "last_used_at": "2026-12-05T09:58:00Z",
                            "backed_up": True,
                            "transports": ["internal", "hybrid"],
                            "aaguid": "08987058-cadc-4b81-b6e1-30de50dcbe96",
                        }
                    ],
                    "identities": [
                        {
                            "id": "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                            "provider": "google",
                            "subject": "110169484474386276334",
                            "email": "ada@example.com",
                            "created_at": "2026-12-01T09:30:00Z",
                            "last_used_at": "2026-12-01T09:30:00Z",
                        }
                    ],
                    "mfa": {"enabled": True, "recovery_codes_left": 9},
                    "audit_events": [
                        {
                            "event": "login",
                            "outcome": "success",
                            "at": "2026-12-05T09:58:00Z",
                            "ip": "203.0.113.7",
                        }
                    ],
                    "email_changes": [
                        {
                            "old_email": "ada@old.example.com",
                            "new_email": "ada@example.com",
                            "asked_at": "2026-11-30T08:00:00Z",
                            "expires_at": "2026-12-01T08:00:00Z",
                            "confirmed_at": "2026-11-30T08:05:00Z",
                            "status": "confirmed",
                        }
                    ],
                    "mail": [
                        {
                            "to": "ada@example.com",
                            "subject": "Two-step sign-in is on",
                            "queued_at": "2026-12-05T09:59:00Z",
                            "sent_at": "2026-12-05T09:59:01Z",
                        }
                    ],
                }
            ]
        }
    )

    exported_at: datetime
    account: UserOut
    profile: dict[str, Any] | None = Field(description="As GET /api/v1/profile shows it.")
    addresses: list[dict[str, Any]] = Field(description="As GET /api/v1/addresses shows them.")
    sessions: list[ExportedSession]
    passkeys: list[dict[str, Any]] = Field(description="As GET /api/v1/auth/passkeys shows them.")
    identities: list[dict[str, Any]] = Field(description="As GET /api/v1/auth/identities shows them.")
    mfa: ExportedMfa
    audit_events: list[ExportedAuditEvent]
    email_changes: list[ExportedEmailChange] = Field(
        description="Every ask to change the account's address, oldest first."
    )
    mail: list[ExportedMail] = Field(
        description="The mail sent or waiting to be sent to the account's addresses, oldest first."
    )
