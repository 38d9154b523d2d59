"""Registration, email verification, passwords, the account itself and its administration; the
owner's self-service: changing the email address, the personal-data export.

Mail sending: `_send_email_token` mints a mailed link's token (stored hashed) and queues the mail in
the request's transaction (`shop.core.mail.outbox.enqueue`), in the user's preferred language;
`fulfil_link_requests` does it for the asks the upkeep takes. Re-authentication and every refusal
that counts go through the `Lockout` collaborator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth import public
from shop.auth.accounts.repository import EmailChangeRepository, MailedLinks
from shop.auth.accounts.schemas import (
    ExportedAuditEvent,
    ExportedEmailChange,
    ExportedMail,
    ExportedMfa,
    ExportedSession,
    PersonalDataExport,
    UserOut,
)
from shop.auth.errors import EmailTaken, EmailTokenInvalid, LastAdmin
from shop.auth.lockout import Lockout
from shop.auth.mails import render_mail
from shop.auth.mfa.repository import MfaChallengeRepository, RecoveryCodeRepository
from shop.auth.models import EmailChange, User
from shop.auth.passkeys.repository import PasskeyRepository
from shop.auth.passkeys.schemas import PasskeyOut
from shop.auth.passwords import password_problem
from shop.auth.providers.repository import IdentityRepository
from shop.auth.providers.schemas import IdentityOut
from shop.auth.reauth import Reauthentication
from shop.auth.repository import AuditRepository, UserRepository
from shop.auth.sessions.repository import SessionRepository
from shop.auth.tools import AuthTools, Client, audit, existing, hash_token, new_token, signed_in, tell_owner
from shop.core.conflicts import after_commit
from shop.core.errors import InvalidInput, NotFound, TokenRevoked
from shop.core.mail.delivery import forget_saved_mail
from shop.core.mail.outbox import enqueue, erase_recipient, mail_to
from shop.users import public as users

VERIFY, RESET = "verify", "reset"
# The page the email-change link opens (shop serves it; an SPA that owns it is PUBLIC_URL).
CONFIRM_EMAIL_CHANGE_PAGE = "confirm-email-change"


class AccountService:
    """Registration, email verification, passwords, the account itself and its administration."""

    def __init__(
        self, session: AsyncSession, tools: AuthTools, lockout: Lockout, reauth: Reauthentication
    ) -> None:
        self.session = session
        self.tools = tools
        self.settings = tools.settings
        self.lockout = lockout
        self.reauth = reauth
        self.users = UserRepository(session)
        self.sessions = SessionRepository(session)
        self.links = MailedLinks(session)
        self.challenges = MfaChallengeRepository(session)

    def _check_new_password(self, password: str, email: str | None, field: str) -> None:
        problem = password_problem(password, email, self.settings.password_min_length)
        if problem is not None:
            raise InvalidInput(["body", field], problem)

    async def _send_email_token(self, user: User, purpose: str) -> None:
        token = new_token()
        verify = purpose == VERIFY
        ttl = self.settings.verify_token_ttl_seconds if verify else self.settings.reset_token_ttl_seconds
        await self.links.tokens.add(user.id, purpose, hash_token(token), ttl)
        language = await users.preferred_language(self.session, user.id)
        base = self.settings.public_url.rstrip("/")
        if verify:
            link, duration = f"{base}/verify-email?token={token}", {"hours": str(ttl // 3600)}
        else:
            link, duration = f"{base}/reset-password?token={token}", {"minutes": str(ttl // 60)}
        mail = render_mail("verify_email" if verify else "reset_password", language, link=link, **duration)
        await enqueue(self.session, user.email, mail)

    async def _limit_email(self, scope: str, email: str) -> None:
        await self.tools.limiter.hit(self.settings.rate_limit_email, f"{scope}:email", email)

    async def _add_user(self, email: str, password: str, *, role: str, verified: bool) -> uuid.UUID:
        user_id = await self.users.add(
            email, await self.tools.hasher.hash(password), role=role, verified=verified
        )
        if user_id is None:
            raise EmailTaken()
        return user_id

    # -- registration and verification ------------------------------------------------------

    async def register(self, email: str, password: str, client: Client) -> uuid.UUID:
        self._check_new_password(password, email, "password")
        user_id = await self._add_user(email, password, role="customer", verified=False)
        await self.tools.events.publish(self.session, public.UserRegistered(user_id, client.accept_language))
        await self._send_email_token(await existing(self.users, user_id), VERIFY)
        await audit(self.session, "register", "success", client, user_id)
        return user_id

    async def verify_email(self, token: str, client: Client) -> None:
        user_id = await self.links.tokens.use(hash_token(token), VERIFY)
        if user_id is None:
            raise EmailTokenInvalid()
        await self._set_email_verified(user_id)
        await audit(self.session, "verify_email", "success", client, user_id)

    async def _set_email_verified(self, user_id: uuid.UUID) -> None:
        email = await self.users.set_email_verified(user_id)
        if email is not None:  # proven just now
            await self.tools.events.publish(self.session, public.EmailVerified(user_id, email))

    async def email_link_state(self, token: str, purpose: str) -> str:
        """What a mailed link's token is now (`valid`, `used`, `expired`, `unknown`), without spending it."""
        return await self.links.tokens.get_state(hash_token(token), purpose)

    async def resend_verification(self, email: str, client: Client) -> None:
        """Only records the ask, for any email: the answer must not tell (not even by its time)
        whether the account exists. `fulfil_link_requests` mails the link moments later."""
        await self._limit_email("resend-verification", email)
        await self.links.requests.add(email, VERIFY, client.ip, client.user_agent)

    async def fulfil_link_requests(self, limit: int = 20) -> int:
        """Fulfil waiting asks for links (in the upkeep's unit of work): a token and a mail when the
        account exists and may have one, nothing otherwise. Returns how many asks were taken.

        Asks for the same link to the same address that wait together send one mail: a user who
        clicks "resend" five times gets one link, and a flood of asks for one address costs the
        upkeep one mail, not one per ask (work whose time the asking requests would otherwise feel,
        for known addresses only)."""
        requests = await self.links.requests.take(limit)
        seen: set[tuple[str, str]] = set()
        for request in requests:
            if (request.email, request.purpose) in seen:
                continue
            seen.add((request.email, request.purpose))
            await self.links.requests.delete_for(request.email, (request.purpose,))  # those still waiting
            user = await self.users.get_by_email(request.email)
            client = Client(
                ip=str(request.ip) if request.ip is not None else None, user_agent=request.user_agent
            )
            if request.purpose == VERIFY:
                if user is not None and not user.email_verified and user.is_active:
                    await self._send_email_token(user, VERIFY)
                    await audit(self.session, "resend_verification", "success", client, user.id)
            elif user is not None and user.is_active:
                await self._send_email_token(user, RESET)
                await audit(self.session, "password_reset_request", "success", client, user.id)
        return len(requests)

    # -- passwords --------------------------------------------------------------------------

    async def request_password_reset(self, email: str, client: Client) -> None:
        """Only records the ask, as `resend_verification` does."""
        await self._limit_email("password-reset-request", email)
        await self.links.requests.add(email, RESET, client.ip, client.user_agent)

    async def reset_password(self, token: str, password: str, client: Client) -> None:
        user_id = await self.links.tokens.use(hash_token(token), RESET)
        if user_id is None:
            raise EmailTokenInvalid()
        user = await self.users.get(user_id)
        if user is None:  # pragma: no cover - tokens cascade with their user
            raise EmailTokenInvalid()
        self._check_new_password(password, user.email, "password")
        await self.users.set_password(user_id, await self.tools.hasher.hash(password))
        # Unlocked, the count from zero, but the doubling kept: the next lockout lasts twice the
        # last, so that a mailbox alone does not renew a budget of second-step guesses reset by reset.
        await self.lockout.unlock(user_id, keep_doubling=True)
        # Every other reset link of the user dies with this one (one may sit in a stolen mailbox), and
        # so does an email change asked for before (perhaps by whoever the new password shuts out).
        await self.links.void(user_id, user.email, (RESET,))
        # Two-step sign-in stays on: a mailbox alone must not be enough to take over the account.
        await self.challenges.spend_all(user_id)
        # The mail reached its owner: the address is proven.
        await self._set_email_verified(user_id)
        count = await self.sessions.revoke_all(user_id, "password_reset")
        await audit(self.session, "password_reset", "success", client, user_id, sessions_revoked=count)
        await tell_owner(self.session, user, "password_changed")

    async def change_password(
        self, user_id: uuid.UUID, session_id: uuid.UUID, current: str, new: str, client: Client
    ) -> None:
        user = await signed_in(self.users, user_id)
        await self.reauth.confirm(
            user,
            current,
            session_id,
            client,
            "password_change",
            field="current_password",
            needs_password=True,
        )
        self._check_new_password(new, user.email, "new_password")
        await self.users.set_password(user_id, await self.tools.hasher.hash(new))
        await self.lockout.unlock(user_id)
        # A reset link mailed (or asked for) before the change must not undo it.
        await self.links.void(user_id, user.email, (RESET,))
        await self.challenges.spend_all(user_id)
        count = await self.sessions.revoke_all(user_id, "password_change", keep=session_id)
        await audit(self.session, "password_change", "success", client, user_id, sessions_revoked=count)
        await tell_owner(self.session, user, "password_changed")

    # -- the account ------------------------------------------------------------------------

    async def delete(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, client: Client
    ) -> None:
        """Erase the account: nothing left names the user (email, names, phone, addresses, IPs).
        Locks in the one order of every change to an account — its row, then the admins' lock — so
        no such change waits the other way (the request holds nothing before: `UnheldUser`)."""
        user = await signed_in(self.users, user_id)
        await self.reauth.confirm(user, password, session_id, client, "account_delete")
        await self._lock_for_deletion(user_id, session_id)
        await self._keep_an_admin(user_id)
        await self.tools.events.publish(self.session, public.AccountDeleted(user_id))
        # Mail went to every address the account had (an email change names two).
        mail_ids = []
        for address in sorted(await self.links.changes.addresses_of(user_id)):
            mail_ids += await erase_recipient(self.session, address)
            await self.links.requests.delete_for(address)
        audit_log = AuditRepository(self.session)
        await audit_log.scrub(user_id)
        await self.users.delete(user_id)  # sessions, tokens, challenges and factors go with it
        # The trail keeps who and what happened when, nothing more.
        await audit_log.add("account_delete", "success", user_id=user_id, ip=None, user_agent=None)
        # The saved files go once the erasure is written: a try rolled back keeps them.
        settings = self.settings
        after_commit(self.session, lambda: forget_saved_mail(settings, mail_ids))

    async def _lock_for_deletion(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        """Wait for the user's writing requests to end (and keep new ones out). Of two deletions
        at once the second waits here, then finds the account gone: its session ended with it.
        Checked again once locked (a new statement sees what committed meanwhile): a session revoked
        or an account deactivated while the password was checked deletes nothing either."""
        max_lifetime = self.settings.session_max_lifetime_seconds
        if not await self.users.lock_for_deletion(user_id) or (
            await self.sessions.get_live_account(user_id, session_id, max_lifetime) is None
        ):
            raise TokenRevoked()

    # -- administration ---------------------------------------------------------------------

    async def list_newest(self, email: str | None) -> list[User]:
        return await self.users.list_newest(email, limit=50)

    async def admin_update(
        self, admin_id: uuid.UUID, user_id: uuid.UUID, changes: dict[str, object], client: Client
    ) -> User:
        if changes.get("is_active") is False or changes.get("role", "admin") != "admin":
            # The row first, then the admins' lock: the order a deletion takes them in too.
            await self.users.lock_for_update(user_id)
            await self._keep_an_admin(user_id)
        before = await self.users.get(user_id)
        was_active = before.is_active if before is not None else None
        user = await self.users.update(user_id, changes) if changes else before
        if user is None:
            raise NotFound("No such user.")
        if changes.get("is_active") is False:
            await self.sessions.revoke_all(user_id, "deactivated")
        await self._announce_activity(user_id, was_active, user.is_active)
        await audit(
            self.session, "admin_update_user", "success", client, user_id, by=str(admin_id), **changes
        )
        return user

    async def _announce_activity(self, user_id: uuid.UUID, was_active: bool | None, is_active: bool) -> None:
        if was_active is True and not is_active:
            await self.tools.events.publish(self.session, public.AccountDeactivated(user_id))
        elif was_active is False and is_active:
            await self.tools.events.publish(self.session, public.AccountReactivated(user_id))

    async def _keep_an_admin(self, user_id: uuid.UUID) -> None:
        """Refuse a change that would leave no active admin (`user_id` demoted, deactivated or
        deleted). Under the admins' lock: of two concurrent such changes the second sees the first."""
        await self.users.lock_admins()
        if await self.users.is_active_admin(user_id) and not await self.users.count_other_active_admins(
            user_id
        ):
            raise LastAdmin()

    async def ensure_admin(self, email: str, password: str | None) -> tuple[uuid.UUID, bool]:
        """Make `email` a verified admin; create it with `password` when it does not exist."""
        user = await self.users.get_by_email(email)
        if user is not None:
            was_active, was_verified = user.is_active, user.email_verified
            await self.users.update(user.id, {"role": "admin", "email_verified": True, "is_active": True})
            if not was_verified:
                await self.tools.events.publish(self.session, public.EmailVerified(user.id, user.email))
            await self._announce_activity(user.id, was_active, True)
            return user.id, False
        if password is None:
            raise InvalidInput(["password"], "A password is needed to create the account.")
        self._check_new_password(password, email, "password")
        user_id = await self._add_user(email, password, role="admin", verified=True)
        await self.tools.events.publish(self.session, public.UserRegistered(user_id, None))
        return user_id, True


class EmailChangeService:
    """Changing the account's email address: an ask mailed to the new address as a link, confirmed
    by whoever holds that mailbox; the old address is told of the ask and of the change.

    The answer to an ask is the same whether or not the new address belongs to another account: then
    the new address gets a mail saying so instead of a link, so the ask tells the caller nothing it
    could not learn by registering. Uniqueness is decided at the moment of the change, by the
    database (the unique index on the lower-cased email)."""

    def __init__(
        self, session: AsyncSession, tools: AuthTools, lockout: Lockout, reauth: Reauthentication
    ) -> None:
        self.session = session
        self.tools = tools
        self.settings = tools.settings
        self.lockout = lockout
        self.reauth = reauth
        self.users = UserRepository(session)
        self.links = MailedLinks(session)

    async def _mail(self, user_id: uuid.UUID, recipient: str, template: str, **values: str) -> None:
        language = await users.preferred_language(self.session, user_id)
        await enqueue(self.session, recipient, render_mail(template, language, **values))

    async def ask(
        self, user_id: uuid.UUID, session_id: uuid.UUID, new_email: str, password: str | None, client: Client
    ) -> None:
        """Mail a confirmation link to `new_email` (or, when it belongs to an account, a mail saying
        so) and a notice to the current address. A newer ask spends the older ones."""
        user = await signed_in(self.users, user_id)
        await self.reauth.confirm(user, password, session_id, client, "email_change_request")
        new_email = new_email.lower()
        if new_email == user.email.lower():
            raise InvalidInput(["body", "new_email"], "This is already the account's email address.")
        # Each ask mails two addresses: no more than a reset ask may cost either mailbox.
        limit = self.settings.rate_limit_email
        await self.tools.limiter.hit(limit, "email-change:account", str(user_id))
        await self.tools.limiter.hit(limit, "email-change:email", new_email)
        await self.links.changes.spend_all(user_id)
        if await self.links.changes.is_taken(new_email):
            await self._mail(user_id, new_email, "email_change_taken")
        else:
            token = new_token()
            ttl = self.settings.verify_token_ttl_seconds
            await self.links.changes.add(user_id, hash_token(token), user.email, new_email, ttl)
            link = f"{self.settings.public_url.rstrip('/')}/{CONFIRM_EMAIL_CHANGE_PAGE}?token={token}"
            await self._mail(user_id, new_email, "email_change_confirm", link=link, hours=str(ttl // 3600))
        await self._mail(user_id, user.email, "email_change_requested")
        await audit(self.session, "email_change_request", "success", client, user_id)

    async def confirm(self, token: str, client: Client) -> None:
        """The new address is the account's, verified; the old address is told. Sessions live on."""
        claimed = await self.links.changes.claim(hash_token(token))
        if claimed is None:
            raise EmailTokenInvalid()
        user_id = claimed.user_id
        user = await existing(self.users, user_id)
        if not user.is_active:
            raise EmailTokenInvalid()  # a disabled account changes nothing
        old_email = user.email
        if not await self.links.changes.move(user_id, claimed.new_email):
            await self.lockout.refuse(
                EmailTaken(), client, user_id, event="email_change", reason="email_taken"
            )
        # The old mailbox no longer speaks for the account: its links die with the change.
        await self.links.void(user_id, old_email, (RESET, VERIFY))
        await self.tools.events.publish(self.session, public.EmailChanged(user_id, claimed.new_email))
        await self._mail(user_id, old_email, "email_changed")
        await audit(self.session, "email_change", "success", client, user_id)

    async def link_state(self, token: str) -> str:
        """What the link's token is now (`valid`, `used`, `expired`, `unknown`), without spending it."""
        return await self.links.changes.get_state(hash_token(token))


# Per account: an export reads everything the account has, and a stolen session should not be able
# to pull it again and again.
EXPORT_LIMIT = "3/hour"


def _change_status(change: EmailChange, now: datetime) -> Literal["pending", "confirmed", "spent", "expired"]:
    if change.confirmed_at is not None:
        return "confirmed"
    if change.used_at is not None:
        return "spent"  # a newer ask or a new password spent it
    return "pending" if change.expires_at > now else "expired"


class ExportService:
    """The personal-data export (GDPR Art. 15 and 20): one document of everything shop holds about
    the account, each part read where it is kept — the users context's through its public interface,
    the other capabilities' through their repositories — and no secret of any kind."""

    def __init__(self, session: AsyncSession, tools: AuthTools, reauth: Reauthentication) -> None:
        self.session = session
        self.tools = tools
        self.reauth = reauth
        self.users = UserRepository(session)

    async def export(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        account: UserOut,
        password: str | None,
        client: Client,
    ) -> PersonalDataExport:
        """`account`: the caller's account as GET /me answers it."""
        user = await signed_in(self.users, user_id)
        await self.reauth.confirm(user, password, session_id, client, "personal_data_export")
        await self.tools.limiter.hit(EXPORT_LIMIT, "me-export", str(user_id))
        # Audited first, so the export lists itself too.
        await audit(self.session, "personal_data_export", "success", client, user_id)
        held = await users.personal_data(self.session, user_id)
        email_changes = EmailChangeRepository(self.session)
        changes = await email_changes.list_for(user_id)
        addresses = await email_changes.addresses_of(user_id)
        now = datetime.now(UTC)
        return PersonalDataExport(
            exported_at=now,
            account=account,
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
                for item in await SessionRepository(self.session).list_all(user_id)
            ],
            # As GET /passkeys and GET /identities show them: names, dates and public facts only.
            passkeys=[
                PasskeyOut.model_validate(item).model_dump(mode="json")
                for item in await PasskeyRepository(self.session).list_newest(user_id)
            ],
            identities=[
                IdentityOut.model_validate(item).model_dump(mode="json")
                for item in await IdentityRepository(self.session).list_for(user_id)
            ],
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
                for item in await AuditRepository(self.session).list_for(user_id)
            ],
            email_changes=[
                ExportedEmailChange(
                    old_email=change.old_email,
                    new_email=change.new_email,
                    asked_at=change.created_at,
                    expires_at=change.expires_at,
                    confirmed_at=change.confirmed_at,
                    status=_change_status(change, now),
                )
                for change in changes
            ],
            mail=[
                ExportedMail(to=m.recipient, subject=m.subject, queued_at=m.created_at, sent_at=m.sent_at)
                for m in await mail_to(self.session, addresses)
            ],
        )
