"""The request bodies' building blocks every capability of auth shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, EmailStr, Field

from shop.auth.passwords import MAX_PASSWORD_LENGTH
from shop.core.config import Settings
from shop.core.validation import RequestModel


def _normalise_email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[EmailStr, AfterValidator(_normalise_email)]
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


class StrictBody(RequestModel):
    # Unknown fields are refused, so nobody can mass-assign `role` or `email_verified`.
    model_config = ConfigDict(extra="forbid")


class EmailRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email
