"""Registration, email verification, passwords, the account itself and its administration.

Mail sending: `_send_email_token` mints a mailed link's token (stored hashed) and queues the mail in
the request's transaction (`shop.core.mail.outbox.enqueue`), in the user's preferred language;
`fulfil_link_requests` does it for the asks the upkeep takes. Re-authentication and every refusal
that counts go through the `Lockout` collaborator."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth import public
from shop.auth.accounts.repository import EmailLinkRequestRepository, EmailTokenRepository
from shop.auth.errors import EmailTaken, EmailTokenInvalid, LastAdmin
from shop.auth.lockout import Lockout
from shop.auth.mfa.repository import MfaChallengeRepository
from shop.auth.models import User
from shop.auth.passwords import password_problem
from shop.auth.repository import AuditRepository, UserRepository
from shop.auth.sessions.repository import SessionRepository
from shop.auth.tools import MAILS, AuthTools, Client, audit, existing, hash_token, new_token
from shop.core.errors import InvalidInput, NotFound, TokenRevoked
from shop.core.mail.delivery import forget_saved_mail
from shop.core.mail.outbox import enqueue, erase_recipient
from shop.users import public as users

VERIFY, RESET = "verify", "reset"


class AccountService:
    """Registration, email verification, passwords, the account itself and its administration."""

    def __init__(self, session: AsyncSession, tools: AuthTools, lockout: Lockout) -> None:
        self.session = session
        self.tools = tools
        self.settings = tools.settings
        self.lockout = lockout
        self.users = UserRepository(session)
        self.sessions = SessionRepository(session)
        self.email_tokens = EmailTokenRepository(session)
        self.link_requests = EmailLinkRequestRepository(session)
        self.challenges = MfaChallengeRepository(session)

    def _check_new_password(self, password: str, email: str | None, field: str) -> None:
        problem = password_problem(password, email, self.settings.password_min_length)
        if problem is not None:
            raise InvalidInput(["body", field], problem)

    async def _send_email_token(self, user: User, purpose: str) -> None:
        token = new_token()
        verify = purpose == VERIFY
        ttl = self.settings.verify_token_ttl_seconds if verify else self.settings.reset_token_ttl_seconds
        await self.email_tokens.add(user.id, purpose, hash_token(token), ttl)
        language = await users.preferred_language(self.session, user.id)
        base = self.settings.public_url.rstrip("/")
        if verify:
            link, duration = f"{base}/verify-email?token={token}", {"hours": str(ttl // 3600)}
        else:
            link, duration = f"{base}/reset-password?token={token}", {"minutes": str(ttl // 60)}
        mail = MAILS.render("verify_email" if verify else "reset_password", language, link=link, **duration)
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
        user_id = await self.email_tokens.use(hash_token(token), VERIFY)
        if user_id is None:
            raise EmailTokenInvalid()
        await self.users.set_email_verified(user_id)
        await audit(self.session, "verify_email", "success", client, user_id)

    async def email_link_state(self, token: str, purpose: str) -> str:
        """What a mailed link's token is now (`valid`, `used`, `expired`, `unknown`), without spending it."""
        return await self.email_tokens.get_state(hash_token(token), purpose)

    async def resend_verification(self, email: str, client: Client) -> None:
        """Only records the ask, for any email: the answer must not tell (not even by its time)
        whether the account exists. `fulfil_link_requests` mails the link moments later."""
        await self._limit_email("resend-verification", email)
        await self.link_requests.add(email, VERIFY, client.ip, client.user_agent)

    async def fulfil_link_requests(self, limit: int = 20) -> int:
        """Fulfil waiting asks for links (in the upkeep's unit of work): a token and a mail when the
        account exists and may have one, nothing otherwise. Returns how many asks were taken.

        Asks for the same link to the same address that wait together send one mail: a user who
        clicks "resend" five times gets one link, and a flood of asks for one address costs the
        upkeep one mail, not one per ask (work whose time the asking requests would otherwise feel,
        for known addresses only)."""
        requests = await self.link_requests.take(limit)
        seen: set[tuple[str, str]] = set()
        for request in requests:
            if (request.email, request.purpose) in seen:
                continue
            seen.add((request.email, request.purpose))
            await self.link_requests.delete_for(request.email, request.purpose)  # those still waiting
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
        await self.link_requests.add(email, RESET, client.ip, client.user_agent)

    async def reset_password(self, token: str, password: str, client: Client) -> None:
        user_id = await self.email_tokens.use(hash_token(token), RESET)
        if user_id is None:
            raise EmailTokenInvalid()
        user = await self.users.get(user_id)
        if user is None:  # pragma: no cover - tokens cascade with their user
            raise EmailTokenInvalid()
        self._check_new_password(password, user.email, "password")
        await self.users.set_password(user_id, await self.tools.hasher.hash(password))
        await self.lockout.unlock(user_id)
        # Every other reset link of the user dies with this one (one may sit in a stolen mailbox).
        await self.email_tokens.spend_all(user_id, RESET)
        await self.link_requests.delete_for(user.email, RESET)
        # Two-step sign-in stays on: a mailbox alone must not be enough to take over the account.
        await self.challenges.spend_all(user_id)
        # The mail reached its owner: the address is proven.
        await self.users.set_email_verified(user_id)
        count = await self.sessions.revoke_all(user_id, "password_reset")
        await audit(self.session, "password_reset", "success", client, user_id, sessions_revoked=count)

    async def change_password(
        self, user_id: uuid.UUID, session_id: uuid.UUID, current: str, new: str, client: Client
    ) -> None:
        user = await existing(self.users, user_id)
        await self.lockout.confirm_password(user, current, client, "password_change")
        self._check_new_password(new, user.email, "new_password")
        await self.users.set_password(user_id, await self.tools.hasher.hash(new))
        await self.lockout.unlock(user_id)
        # A reset link mailed (or asked for) before the change must not undo it.
        await self.email_tokens.spend_all(user_id, RESET)
        await self.link_requests.delete_for(user.email, RESET)
        await self.challenges.spend_all(user_id)
        count = await self.sessions.revoke_all(user_id, "password_change", keep=session_id)
        await audit(self.session, "password_change", "success", client, user_id, sessions_revoked=count)

    # -- the account ------------------------------------------------------------------------

    async def delete(self, user_id: uuid.UUID, session_id: uuid.UUID, password: str, client: Client) -> None:
        """Erase the account: nothing left names the user (email, names, phone, addresses, IPs).
        Locks in the one order of every change to an account — its row, then the admins' lock — so
        no such change waits the other way (the request holds nothing before: `UnheldUser`)."""
        user = await existing(self.users, user_id)
        await self.lockout.confirm_password(user, password, client, "account_delete")
        await self._lock_for_deletion(user_id, session_id)
        await self._keep_an_admin(user_id)
        await self.tools.events.publish(self.session, public.AccountDeleted(user_id))
        mail_ids = await erase_recipient(self.session, user.email)
        await self.link_requests.delete_for(user.email)
        audit_log = AuditRepository(self.session)
        await audit_log.scrub(user_id)
        await self.users.delete(user_id)  # sessions, tokens, challenges and factors go with it
        # The trail keeps who and what happened when, nothing more.
        await audit_log.add("account_delete", "success", user_id=user_id, ip=None, user_agent=None)
        forget_saved_mail(self.settings, mail_ids)

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
        user = await self.users.update(user_id, changes) if changes else await self.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        if changes.get("is_active") is False:
            await self.sessions.revoke_all(user_id, "deactivated")
        await audit(
            self.session, "admin_update_user", "success", client, user_id, by=str(admin_id), **changes
        )
        return user

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
            await self.users.update(user.id, {"role": "admin", "email_verified": True, "is_active": True})
            return user.id, False
        if password is None:
            raise InvalidInput(["password"], "A password is needed to create the account.")
        self._check_new_password(password, email, "password")
        user_id = await self._add_user(email, password, role="admin", verified=True)
        await self.tools.events.publish(self.session, public.UserRegistered(user_id, None))
        return user_id, True
