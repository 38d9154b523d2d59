"""Request and response bodies of the email change and the personal-data export."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shop.auth.schemas import Email, Password, StrictBody, UserOut


class EmailChangeRequest(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"new_email": "ada@new.example.com", "password": "correct horse battery"}]
        }
    )

    new_email: Email
    password: Password


class ExportRequest(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})

    password: Password


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


class PendingEmailChange(BaseModel):
    new_email: str
    expires_at: datetime


class PersonalDataExport(BaseModel):
    """Everything shop holds about the account, and no secret (no hash, key, token or TOTP secret).
    Its JSON Schema is docs/export.schema.json."""

    exported_at: datetime
    account: UserOut
    profile: dict[str, Any] | None = Field(description="As GET /api/v1/profile shows it.")
    addresses: list[dict[str, Any]] = Field(description="As GET /api/v1/addresses shows them.")
    sessions: list[ExportedSession]
    passkeys: list[dict[str, Any]]
    identities: list[dict[str, Any]]
    mfa: ExportedMfa
    audit_events: list[ExportedAuditEvent]
    pending_email_change: PendingEmailChange | None = Field(
        description="An ask to change the address whose link has not been used yet."
    )
