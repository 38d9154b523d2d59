"""Changing the account's email address: an ask mailed to the new address as a link, confirmed by
whoever holds that mailbox; the old address is told of the ask and of the change.

The answer to an ask is the same whether or not the new address belongs to another account: then
the new address gets a mail saying so instead of a link, so the ask tells the caller nothing it
could not learn by registering. Uniqueness is decided at the moment of the change, by the database.
"""

from __future__ import annotations

import uuid

from shop.auth import public
from shop.auth.accounts.email_change_repository import EmailChangeRepository
from shop.auth.errors import EmailTaken, EmailTokenInvalid
from shop.auth.service import MAILS, RESET, VERIFY, Client, _AuthService, hash_token, new_token
from shop.core.errors import InvalidInput
from shop.core.mail.outbox import enqueue
from shop.users import public as users

CONFIRM_PAGE = "confirm-email-change"


class EmailChangeService(_AuthService):
    @property
    def changes(self) -> EmailChangeRepository:
        return EmailChangeRepository(self.session)

    async def _mail(self, user_id: uuid.UUID, recipient: str, template: str, **values: str) -> None:
        language = await users.preferred_language(self.session, user_id)
        await enqueue(self.session, recipient, MAILS.render(template, language, **values))

    async def ask(self, user_id: uuid.UUID, new_email: str, password: str, client: Client) -> None:
        """Mail a confirmation link to `new_email` (or, when it belongs to an account, a mail saying
        so) and a notice to the current address. A newer ask spends the older ones."""
        user = await self._existing(user_id)
        await self._confirm_password(user, password, client, "email_change_request")
        new_email = new_email.lower()
        if new_email == user.email.lower():
            raise InvalidInput(["body", "new_email"], "This is already the account's email address.")
        # Each ask mails two addresses: no more than a reset ask may cost either mailbox.
        limit = self.settings.rate_limit_email
        await self.tools.limiter.hit(limit, "email-change:account", str(user_id))
        await self.tools.limiter.hit(limit, "email-change:email", new_email)
        await self.changes.spend_all(user_id)
        if await self.changes.is_taken(new_email):
            await self._mail(user_id, new_email, "email_change_taken")
        else:
            token = new_token()
            ttl = self.settings.verify_token_ttl_seconds
            await self.changes.add(user_id, hash_token(token), user.email, new_email, ttl)
            link = f"{self.settings.public_url.rstrip('/')}/{CONFIRM_PAGE}?token={token}"
            await self._mail(user_id, new_email, "email_change_confirm", link=link, hours=str(ttl // 3600))
        await self._mail(user_id, user.email, "email_change_requested")
        await self._audit("email_change_request", "success", client, user_id)

    async def confirm(self, token: str, client: Client) -> None:
        """The new address is the account's, verified; the old address is told. Sessions live on."""
        claimed = await self.changes.claim(hash_token(token))
        if claimed is None:
            raise EmailTokenInvalid()
        user_id = claimed.user_id
        user = await self._existing(user_id)
        if not user.is_active:
            raise EmailTokenInvalid()  # a disabled account changes nothing
        old_email = user.email
        if not await self.changes.move(user_id, claimed.new_email):
            await self._refuse(
                EmailTaken(), client, user_id, event="email_change", outcome="failure", reason="email_taken"
            )
        await self.changes.spend_all(user_id)
        # The old mailbox no longer speaks for the account: its links die with the change.
        await self.email_tokens.spend_all(user_id, RESET)
        await self.email_tokens.spend_all(user_id, VERIFY)
        await self.link_requests.delete_for(old_email)
        await self.tools.events.publish(self.session, public.EmailChanged(user_id, claimed.new_email))
        await self._mail(user_id, old_email, "email_changed")
        await self._audit("email_change", "success", client, user_id)

    async def link_state(self, token: str) -> str:
        """What the link's token is now (`valid`, `used`, `expired`, `unknown`), without spending it."""
        return await self.changes.get_state(hash_token(token))
