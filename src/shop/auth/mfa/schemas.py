"""Request and response bodies of two-step sign-in."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shop.auth.schemas import Password, StrictBody

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
