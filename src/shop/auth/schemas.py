"""The request bodies' building blocks every capability of auth shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, EmailStr, Field

from shop.auth.passwords import MAX_PASSWORD_LENGTH
from shop.core.config import Settings
from shop.core.validation import RequestModel


def _normalise_email(value: str) -> str:
    return value.strip().lower()


# Syntax as the `email-validator` package checks it, which also refuses the special-use domains
# (RFC 6761 and IANA's registry): no mail reaches them, so such an account could never be verified.
# The schema says so: `format: email` alone would let a client (or a fuzzer) believe them valid.
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")
Email = Annotated[
    EmailStr,
    AfterValidator(_normalise_email),
    Field(
        description="An email address (compared without regard to case). Addresses on special-use "
        "domains, which no mail reaches, are refused: "
        + ", ".join(f"`.{domain}`" for domain in SPECIAL_USE_DOMAINS)
        + " and their subdomains."
    ),
]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
# A new password: the schema shows PASSWORD_MIN_LENGTH's default; the service checks the configured
# value (a validation rule here could not follow the setting).
NewPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PASSWORD_LENGTH,
        json_schema_extra={"minLength": Settings.model_fields["password_min_length"].default},
    ),
]
# Re-authentication (shop.auth.reauth): an account with a password gives it; an account without one
# (made by another provider) leaves it out and must have signed in recently.
ReauthPassword = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=MAX_PASSWORD_LENGTH,
        description="The account's password. Left out by an account without one, which must have "
        "signed in within REAUTH_MAX_AGE_SECONDS (else 403 `reauthentication_required`).",
    ),
]


class StrictBody(RequestModel):
    # Unknown fields are refused, so nobody can mass-assign `role` or `email_verified`.
    model_config = ConfigDict(extra="forbid")


class EmailRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email
