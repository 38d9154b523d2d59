"""Request and response bodies of the auth context."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, model_validator

from shop.auth.passwords import MAX_PASSWORD_LENGTH
from shop.core.validation import RequestModel


def _normalise_email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[EmailStr, AfterValidator(_normalise_email)]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class StrictBody(RequestModel):
    # Unknown fields are refused, so nobody can mass-assign `role` or `email_verified`.
    model_config = ConfigDict(extra="forbid")


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
    message: str
    user_id: uuid.UUID


class MessageResponse(BaseModel):
    message: str


class TokenRequest(StrictBody):
    token: Annotated[str, Field(min_length=1, max_length=512)]


class EmailRequest(StrictBody):
    email: Email


class LoginRequest(StrictBody):
    email: Email
    password: Password

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "ada@example.com", "password": "correct horse battery"}]},
    )


class RefreshRequest(StrictBody):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class LogoutRequest(RequestModel):
    """Accepted and ignored: logout ends the session of the access token."""

    model_config = ConfigDict(extra="ignore")

    refresh_token: str | None = None


class PasswordResetRequest(_ConfirmedPassword):
    token: Annotated[str, Field(min_length=1, max_length=512)]
    password: Password
    confirm_password: Password


class ChangePasswordRequest(_ConfirmedPassword):
    current_password: Password
    new_password: Password
    confirm_password: Password

    def _new_password(self) -> str:
        return self.new_password


class DeleteAccountRequest(StrictBody):
    password: Password


# A TOTP code (`123456`, spaces allowed) or a recovery code (`xxxxx-xxxxx`).
Code = Annotated[str, Field(min_length=1, max_length=32)]


class MfaSetupRequest(StrictBody):
    password: Password


class MfaConfirmRequest(StrictBody):
    code: Code


class MfaManageRequest(StrictBody):
    """The password and a code: a TOTP code or one of the recovery codes."""

    password: Password
    code: Code


class MfaVerifyRequest(StrictBody):
    """The `mfa_token` of the login's `mfa_required` answer and exactly one of `code`, `recovery_code`."""

    mfa_token: Annotated[str, Field(min_length=1, max_length=512)]
    code: Code | None = None
    recovery_code: Code | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"mfa_token": "from the mfa_required answer", "code": "123456"}]},
    )

    @model_validator(mode="after")
    def _one_code(self) -> MfaVerifyRequest:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send exactly one of code and recovery_code")
        return self


class TotpSetupResponse(BaseModel):
    secret: str = Field(description="The base32 secret, for typing into an app by hand.")
    otpauth_uri: str = Field(description="The otpauth://totp/… URI the QR code holds.")
    qr_svg: str = Field(description="The URI as an SVG QR code (a standalone SVG document).")


class RecoveryCodesResponse(BaseModel):
    recovery_codes: list[str] = Field(
        description="Ten single-use codes, shown this once: each signs in instead of an authenticator code."
    )


class TokenUser(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")
    user: TokenUser


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    is_active: bool
    role: Literal["customer", "admin"]
    mfa_enabled: bool
    created_at: datetime
    last_login_at: datetime | None


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


class ProtectedResponse(BaseModel):
    message: str
    user_id: uuid.UUID


class AdminUserPatch(StrictBody):
    is_active: bool | None = None
    role: Literal["customer", "admin"] | None = None
