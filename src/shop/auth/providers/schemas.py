"""Request and response bodies of provider sign-in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shop.auth.schemas import ReauthPassword, StrictBody

# RFC 7636 4.1 and 4.2: a verifier is 43-128 characters of [A-Z a-z 0-9 - . _ ~]; an S256 challenge
# is the 43 characters of a SHA-256 digest in unpadded base64url.
CodeVerifier = Annotated[str, Field(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9\-._~]+$")]
CodeChallenge = Annotated[str, Field(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9\-_]+$")]


class ProviderOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "google", "display_name": "Google"}]})

    name: str = Field(description="The name in the paths: /oidc/{name}/start.")
    display_name: str = Field(description='What a "Continue with …" button says.')


class StartRequest(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "redirect_to": "https://app.example.com/signed-in",
                    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    "code_challenge_method": "S256",
                    "intent": "sign_in",
                }
            ]
        }
    )

    redirect_to: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="Where the browser comes back (with `code`, `linked` or `error`): it must start "
        "with one of OIDC_REDIRECT_ALLOWLIST."
    )
    code_challenge: CodeChallenge = Field(
        description="The S256 challenge of a verifier the SPA keeps: the exchange needs that verifier."
    )
    code_challenge_method: Literal["S256"]
    intent: Literal["sign_in", "link"] = Field(
        description="`sign_in`, or `link` the provider to the signed-in account (needs a bearer token)."
    )


class StartResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "authorization_url": "https://accounts.google.com/o/oauth2/v2/auth?response_type=code"
                    "&client_id=shop&state=…&nonce=…&code_challenge=…&code_challenge_method=S256"
                }
            ]
        }
    )

    authorization_url: str = Field(description="Send the browser here (a top-level navigation).")


class ExchangeRequest(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "q8Zr3n0VbP4cXk1s9YwT2mJ6hL5dF7gA",
                    "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                }
            ]
        }
    )

    code: Annotated[str, Field(min_length=1, max_length=512)]
    code_verifier: CodeVerifier


class IdentityOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                    "provider": "google",
                    "subject": "110169484474386276334",
                    "email": "ada@example.com",
                    "created_at": "2026-12-05T09:30:00Z",
                    "last_used_at": "2026-12-05T09:30:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    provider: str
    subject: str = Field(description="The provider's `sub` for the person.")
    email: str | None = Field(description="The email the provider gave when it was linked.")
    created_at: datetime
    last_used_at: datetime | None


class UnlinkRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})

    password: ReauthPassword = None
