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


class EmailRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email


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


# A TOTP code (`123456`, spaces allowed) or a recovery code (`xxxxx-xxxxx`).
Code = Annotated[str, Field(min_length=1, max_length=32)]


class MfaSetupRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})

    password: Password


class MfaConfirmRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "123456"}]})

    code: Code


class MfaManageRequest(StrictBody):
    """The password and a code: a TOTP code or one of the recovery codes."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"password": "correct horse battery", "code": "123456"}]}
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                    "otpauth_uri": "otpauth://totp/shop:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=shop",
                    "qr_svg": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 41 41"><path d="M4 4h7v7h-7z"/></svg>',
                }
            ]
        }
    )

    secret: str = Field(description="The base32 secret, for typing into an app by hand.")
    otpauth_uri: str = Field(description="The otpauth://totp/… URI the QR code holds.")
    qr_svg: str = Field(description="The URI as an SVG QR code (a standalone SVG document).")


class RecoveryCodesResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"recovery_codes": ["k7m2q-x9d4w", "p3v8r-h6t1z"]}]}
    )

    recovery_codes: list[str] = Field(
        description="Ten single-use codes, shown this once: each signs in instead of an authenticator code."
    )


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


class SigningKeyOut(BaseModel):
    """A signing key as the admin sees it: never its private half."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "kid": "Uo1Sy3hB0C2b5mX9uZqv1T6yq1Gf4kq9nS0W2q3rJxE",
                    "alg": "EdDSA",
                    "state": "retired",
                    "created_at": "2026-10-01T09:30:00Z",
                    "activated_at": "2026-10-20T09:30:00Z",
                    "retired_at": "2026-11-20T09:30:00Z",
                }
            ]
        },
    )

    kid: str
    alg: Literal["EdDSA", "ES256", "RS256"]
    state: Literal["next", "active", "retired"] = Field(
        description="`next` is published and signs after the next rotation; `active` signs; "
        "`retired` is published until the last token it signed has expired."
    )
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


class JsonWebKey(BaseModel):
    """A public JWK (RFC 7517): `crv` and `x` (Ed25519; `y` too for P-256), or `n` and `e` (RSA)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "kid": "Uo1Sy3hB0C2b5mX9uZqv1T6yq1Gf4kq9nS0W2q3rJxE",
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "alg": "EdDSA",
                    "use": "sig",
                }
            ]
        },
    )

    kid: str
    kty: Literal["OKP", "EC", "RSA"]
    alg: Literal["EdDSA", "ES256", "RS256"]
    use: Literal["sig"]


class JsonWebKeySet(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "keys": [
                        {
                            "kid": "nYb3cR9Qz7kC1w8mW5dVqg0jL2hP4sT6uX8yA0bD2eF",
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "x": "LdCh0pLcmpr9tvp2aGVZ_JfRvJz8qHcR0Mx1oNVr3vg",
                            "alg": "EdDSA",
                            "use": "sig",
                        },
                        {
                            "kid": "Uo1Sy3hB0C2b5mX9uZqv1T6yq1Gf4kq9nS0W2q3rJxE",
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                            "alg": "EdDSA",
                            "use": "sig",
                        },
                    ]
                }
            ]
        }
    )

    keys: list[JsonWebKey]


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 metadata: only what shop supports."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "issuer": "https://shop.example.com",
                    "jwks_uri": "https://shop.example.com/.well-known/jwks.json",
                    "token_endpoint": "https://shop.example.com/api/v1/auth/token",
                    "grant_types_supported": ["password"],
                    "token_endpoint_auth_methods_supported": ["none"],
                    "response_types_supported": [],
                }
            ]
        }
    )

    issuer: str
    jwks_uri: str
    token_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    response_types_supported: list[str]
