"""The personal-data export (GDPR Art. 15 and 20): one document of everything shop holds about the
account, each part from the part of shop that holds it — the users context's through its public
interface — and no secret of any kind."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from shop.auth.accounts.email_change_repository import EmailChangeRepository
from shop.auth.accounts.export_repository import ExportRepository
from shop.auth.accounts.self_service_schemas import (
    ExportedAuditEvent,
    ExportedEmailChange,
    ExportedMail,
    ExportedMfa,
    ExportedSession,
    PersonalDataExport,
)
from shop.auth.models import EmailChange
from shop.auth.repository import RecoveryCodeRepository
from shop.auth.schemas import UserOut
from shop.auth.service import Client, _AuthService
from shop.core.mail.outbox import mail_to
from shop.users import public as users

# Per account: an export reads everything the account has, and a stolen session should not be
# able to pull it again and again.
EXPORT_LIMIT = "3/hour"


def _status(change: EmailChange, now: datetime) -> Literal["pending", "confirmed", "spent", "expired"]:
    if change.confirmed_at is not None:
        return "confirmed"
    if change.used_at is not None:
        return "spent"  # a newer ask or a new password spent it
    return "pending" if change.expires_at > now else "expired"


class ExportService(_AuthService):
    async def export(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        account: Mapping[str, Any],
        password: str,
        client: Client,
    ) -> PersonalDataExport:
        """`account`: the caller's account as GET /me answers it (the bearer guard's read)."""
        user = await self._existing(user_id)
        await self._confirm_password(user, password, client, "personal_data_export")
        await self.tools.limiter.hit(EXPORT_LIMIT, "me-export", str(user_id))
        # Audited first, so the export lists itself too.
        await self._audit("personal_data_export", "success", client, user_id)
        reads = ExportRepository(self.session)
        held = await users.personal_data(self.session, user_id)
        email_changes = EmailChangeRepository(self.session)
        changes = await email_changes.list_for(user_id)
        addresses = await email_changes.addresses_of(user_id)
        now = datetime.now(UTC)
        return PersonalDataExport(
            exported_at=now,
            account=UserOut.model_validate(account),
            profile=held.profile,
            addresses=held.addresses,
            sessions=[
                ExportedSession(
                    id=item.id,
                    created_at=item.created_at,
                    last_used_at=item.last_used_at,
                    expires_at=item.expires_at,
                    revoked_at=item.revoked_at,
                    revoked_reason=item.revoked_reason,
                    user_agent=item.user_agent,
                    ip=str(item.ip) if item.ip is not None else None,
                    amr=list(item.amr),
                    current=item.id == session_id,
                )
                for item in await reads.sessions_of(user_id)
            ],
            # Passkeys and other providers' identities: none can be held yet.
            passkeys=[],
            identities=[],
            mfa=ExportedMfa(
                enabled=user.mfa_enabled,
                recovery_codes_left=await RecoveryCodeRepository(self.session).count_unused(user_id)
                if user.mfa_enabled
                else 0,
            ),
            audit_events=[
                ExportedAuditEvent(
                    event=item.event,
                    outcome=item.outcome,
                    at=item.created_at,
                    ip=str(item.ip) if item.ip is not None else None,
                )
                for item in await reads.audit_trail_of(user_id)
            ],
            email_changes=[
                ExportedEmailChange(
                    old_email=change.old_email,
                    new_email=change.new_email,
                    asked_at=change.created_at,
                    expires_at=change.expires_at,
                    confirmed_at=change.confirmed_at,
                    status=_status(change, now),
                )
                for change in changes
            ],
            mail=[
                ExportedMail(to=m.recipient, subject=m.subject, queued_at=m.created_at, sent_at=m.sent_at)
                for m in await mail_to(self.session, addresses)
            ],
        )
