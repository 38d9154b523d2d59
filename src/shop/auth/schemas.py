"""The request bodies' building blocks every capability of auth shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, EmailStr, Field

from shop.auth.passwords import MAX_PASSWORD_LENGTH
from shop.core.validation import RequestModel


def _normalise_email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[EmailStr, AfterValidator(_normalise_email)]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
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
