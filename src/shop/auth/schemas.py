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


class StrictBody(RequestModel):
    # Unknown fields are refused, so nobody can mass-assign `role` or `email_verified`.
    model_config = ConfigDict(extra="forbid")


class EmailRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email
