"""The rules of provider sign-in (OpenID Connect).

Start: a `state` (single use, 10 minutes, stored as a hash, bound to the provider and — to link — to
the account), a nonce and a PKCE verifier towards the provider (sealed at rest), and what the SPA
asked: where to come back and its own S256 challenge. Callback: the state is spent, the provider's
code exchanged and its ID token verified (`oidc.py`); then an identity (provider, `sub`) signs in its
account, or is linked, or makes a new account — never merged into an existing one by email. The
browser goes back with a one-time code (60 s, stored as a hash) that only the SPA's verifier
exchanges for a session (`amr: ["fed"]`).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth import public
from shop.auth.errors import (
    LastSignInMethod,
    OidcCodeInvalid,
    OidcStateInvalid,
    ProviderUnavailable,
    RedirectNotAllowed,
)
from shop.auth.mails import render_mail
from shop.auth.models import LinkedIdentity, OidcState, User
from shop.auth.passkeys.repository import PasskeyRepository
from shop.auth.providers.oidc import OidcProvider, OidcProviders, ProviderAnswerInvalid, s256
from shop.auth.providers.repository import (
    IdentityRepository,
    OidcCodeRepository,
    OidcStateRepository,
    SpentAtOnce,
)
from shop.auth.reauth import Reauthentication
from shop.auth.repository import UserRepository
from shop.auth.sessions.schemas import TokenPair, TokenUser
from shop.auth.sessions.service import SessionService
from shop.auth.tools import AuthTools, Client, audit, hash_token, new_token
from shop.core.errors import NotAuthenticated, NotFound
from shop.core.mail.outbox import enqueue
from shop.core.secretbox import SecretBoxError
from shop.users import public as users

logger = logging.getLogger("shop.auth.providers")

STATE_TTL = timedelta(minutes=10)
CODE_TTL_SECONDS = 60
FED = ("fed",)
_EMAIL = TypeAdapter(EmailStr)


def _back(redirect_to: str, **params: str) -> str:
    """`redirect_to` with `params` added to its query (its own query and fragment kept)."""
    parts = urlsplit(redirect_to)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _verified_email(claims: dict[str, Any]) -> str | None:
    """The ID token's email when the provider says it is verified (`email_verified: true`, a
    boolean: a string "true" is not taken), lower-cased; else None."""
    email = claims.get("email")
    if claims.get("email_verified") is not True or not isinstance(email, str):
        return None
    try:
        return str(_EMAIL.validate_python(email)).lower()
    except ValidationError:
        return None


def _text_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


class ProviderService:
    """Start, callback, exchange, and the account's linked identities."""

    def __init__(  # noqa: PLR0917 - the request's session and its collaborators, as the other services
        self,
        session: AsyncSession,
        spent: SpentAtOnce,
        tools: AuthTools,
        providers: OidcProviders,
        sign_in: SessionService,
        reauth: Reauthentication,
    ) -> None:
        self.session = session
        self.spent = spent
        self.tools = tools
        self.settings = tools.settings
        self.providers = providers
        # The one touch point with sessions: opens a session for a proven account (or asks the second step).
        self.sign_in = sign_in
        self.reauth = reauth
        self.users = UserRepository(session)
        self.identities = IdentityRepository(session)
        self.states = OidcStateRepository(session)
        self.codes = OidcCodeRepository(session)

    def _provider(self, name: str) -> OidcProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise NotFound("No such provider.")
        return provider

    # -- start -------------------------------------------------------------------------------------

    async def start(
        self,
        name: str,
        *,
        redirect_to: str,
        code_challenge: str,
        intent: str,
        user_id: uuid.UUID | None,
        client: Client,
    ) -> str:
        provider = self._provider(name)
        if not any(redirect_to.startswith(prefix) for prefix in self.settings.oidc_redirect_prefixes):
            raise RedirectNotAllowed()
        if intent == "link" and user_id is None:
            raise NotAuthenticated("Linking a provider needs the account's bearer token.")
        state, nonce, verifier = (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(48),
        )
        url = await provider.authorization_url(state, nonce, verifier)  # 503 while it cannot be read
        await self.states.add(
            OidcState(
                state_hash=hash_token(state),
                provider=name,
                intent=intent,
                user_id=user_id if intent == "link" else None,
                nonce=nonce,
                code_verifier=self.providers.box.seal(verifier.encode()),
                redirect_to=redirect_to,
                code_challenge=code_challenge,
                accept_language=(client.accept_language or "")[:256] or None,
                expires_at=func.now() + STATE_TTL,
            )
        )
        return url

    # -- callback ----------------------------------------------------------------------------------

    async def callback(
        self,
        name: str,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        client: Client,
        issuer: str | None = None,
    ) -> str:
        """Where to send the browser: the start's `redirect_to` with `code`, `linked` or `error`.
        Raises OidcStateInvalid when the state is unknown, spent or expired (nowhere safe to go)."""
        provider = self._provider(name)
        found = await self._claim(state, name)
        refusal = _refusal(provider, code=code, error=error, issuer=issuer)
        if refusal is not None or code is None:
            reason, said = refusal or ("provider_error", "no code")
            return await self._fail(found, reason, client, provider_said=said)
        claims = await self._verified_claims(provider, found, code)
        if claims is None:
            return await self._fail(found, "provider_error", client)
        subject = str(claims["sub"])
        if found.intent == "link" and found.user_id is not None:
            return await self._link(found, found.user_id, subject, claims, client)
        return await self._sign_in(found, subject, claims, client)

    async def _claim(self, state: str | None, name: str) -> OidcState:
        """The sign-in the state stands for, spent for good at once in a unit of work of its own: no
        transaction is held open while the provider is asked (up to OIDC_TIMEOUT_SECONDS), and a
        failure later changes nothing. Raises OidcStateInvalid."""
        found = await self.spent.state(hash_token(state), name) if state else None
        if found is None:
            raise OidcStateInvalid()
        return found

    async def _verified_claims(
        self, provider: OidcProvider, found: OidcState, code: str
    ) -> dict[str, Any] | None:
        """The ID token's claims for `code`, or None (logged) when the provider cannot give them."""
        try:
            verifier = self.providers.box.open(found.code_verifier).decode()
            token = await provider.exchange(code, verifier)
            return await provider.verify_id_token(token, found.nonce)
        except (ProviderAnswerInvalid, ProviderUnavailable, SecretBoxError) as exc:
            logger.warning(
                "provider sign-in failed", extra={"provider": provider.name, "error": str(exc)[:300]}
            )
            return None

    async def _fail(self, found: OidcState, error: str, client: Client, **details: object) -> str:
        await audit(
            self.session,
            "oidc_callback",
            "failure",
            client,
            found.user_id,
            provider=found.provider,
            reason=error,
            **details,
        )
        descriptions = {
            "access_denied": "The sign-in was cancelled at the provider.",
            "provider_error": "The provider's answer could not be used; try again.",
            "email_not_verified": "The provider does not vouch for this email address.",
            "account_exists": "An account with this email exists: sign in to it, then link the provider.",
            "account_disabled": "This account has been disabled.",
            "identity_in_use": "This provider account is linked to another account.",
        }
        return _back(found.redirect_to, error=error, error_description=descriptions[error])

    async def _link(
        self, found: OidcState, user_id: uuid.UUID, subject: str, claims: dict[str, Any], client: Client
    ) -> str:
        user = await self.users.get(user_id)
        if user is None or not user.is_active:
            return await self._fail(found, "account_disabled", client)
        existing = await self.identities.find(found.provider, subject)
        if existing is None:
            existing = await self.identities.add(
                user_id, found.provider, subject, _text_claim(claims, "email")
            )
            if existing is not None and existing.user_id == user_id:
                await self._mail(user, "identity_linked", provider=found.provider)
                await audit(
                    self.session, "identity_link", "success", client, user_id, provider=found.provider
                )
        if existing is None or existing.user_id != user_id:
            return await self._fail(found, "identity_in_use", client)
        return _back(found.redirect_to, linked=found.provider)

    async def _sign_in(self, found: OidcState, subject: str, claims: dict[str, Any], client: Client) -> str:
        identity = await self.identities.find(found.provider, subject)
        if identity is not None:
            user = await self.users.get(identity.user_id)
            if user is None or not user.is_active:
                return await self._fail(found, "account_disabled", client)
            await self.identities.touch(identity.id)
        else:
            email = _verified_email(claims)
            if email is None:
                return await self._fail(found, "email_not_verified", client)
            if await self.users.get_by_email(email) is not None:
                # Never merged behind the owner's back: they sign in and link the provider.
                return await self._fail(found, "account_exists", client)
            user_id = await self.users.add(email, None, verified=True)
            if user_id is None:  # the address was taken meanwhile
                return await self._fail(found, "account_exists", client)
            await self.tools.events.publish(
                self.session,
                public.UserRegistered(
                    user_id,
                    found.accept_language,
                    locale=_text_claim(claims, "locale"),
                    first_name=_text_claim(claims, "given_name"),
                    last_name=_text_claim(claims, "family_name"),
                ),
            )
            if await self.identities.add(user_id, found.provider, subject, email) is None:
                raise OidcStateInvalid()  # the same identity signed up in a concurrent callback
            await audit(self.session, "register", "success", client, user_id, provider=found.provider)
            user = await self.users.get(user_id)
            if user is None:  # pragma: no cover - added just above
                raise NotFound("The account does not exist.")
        code = new_token()
        await self.codes.add(
            hash_token(code), user.id, found.provider, found.code_challenge, CODE_TTL_SECONDS
        )
        await audit(self.session, "oidc_callback", "success", client, user.id, provider=found.provider)
        return _back(found.redirect_to, code=code)

    # -- exchange ----------------------------------------------------------------------------------

    async def exchange(self, code: str, code_verifier: str, client: Client) -> TokenPair:
        """The one-time code and the verifier of the start's challenge → a new session. The code
        works once whatever the answer: one statement spends it and, when every rule holds, opens the
        session (`OidcCodeRepository.exchange`); a refusal — a wrong verifier, a disabled account, a
        second step to take — reads why from that statement's answer."""
        # The statement commits by itself (the request's session is a one-statement one): nothing
        # after it may fail for want of a key.
        await self.tools.tokens.ready(self.session)
        opening = self.sign_in.opening_without_password(client, FED)
        found = await self.codes.exchange(hash_token(code), s256(code_verifier), opening.parameters)
        if found is None:  # unknown, spent or expired (codes cascade with their user)
            raise OidcCodeInvalid()
        if found.session_id is None:
            # The code stays spent whatever the refusal, which rolls the request back: in autocommit
            # its statement is committed already; behind a transaction pooler (or in a test's bound
            # session) this commits it.
            await self.session.commit()
            if not found.verified:
                raise OidcCodeInvalid()
            await self.sign_in.refuse_without_password(
                found.user_id, client, FED, is_active=found.is_active, mfa_enabled=found.mfa_enabled
            )
        user = TokenUser(id=found.user_id, email=found.email, email_verified=found.email_verified)
        return await self.sign_in.signed_in_without_password(user, found.session_id, opening)

    # -- identities --------------------------------------------------------------------------------

    async def list_identities(self, user_id: uuid.UUID) -> list[LinkedIdentity]:
        return await self.identities.list_for(user_id)

    async def unlink(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        identity_id: uuid.UUID,
        password: str | None,
        client: Client,
    ) -> None:
        # The account's row first: of two unlinks at once the second counts what the first left.
        await self.users.lock_for_update(user_id)
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound("The account does not exist.")
        await self.reauth.confirm(user, password, session_id, client, "identity_unlink")
        identity = await self.identities.get_owned(user_id, identity_id)
        if identity is None:
            raise NotFound("No such identity.")
        # A passkey is a way back in too: only the last of password, identities and passkeys is kept.
        if (
            user.password_hash is None
            and await self.identities.count_for(user_id) <= 1
            and await PasskeyRepository(self.session).count(user_id) == 0
        ):
            raise LastSignInMethod()
        await self.identities.delete(identity.id)
        await self._mail(user, "identity_unlinked", provider=identity.provider)
        await audit(self.session, "identity_unlink", "success", client, user_id, provider=identity.provider)

    async def _mail(self, user: User, template: str, *, provider: str) -> None:
        configured = self.providers.get(provider)
        label = configured.display_name if configured else provider
        language = await users.preferred_language(self.session, user.id)
        await enqueue(self.session, user.email, render_mail(template, language, provider=label))


def _refusal(
    provider: OidcProvider, *, code: str | None, error: str | None, issuer: str | None
) -> tuple[str, str] | None:
    """Why the provider's answer is not followed — the error for `redirect_to` and what the
    provider said, for the audit — or None."""
    if error is not None or code is None:
        return ("access_denied" if error == "access_denied" else "provider_error"), (error or "no code")[:64]
    if issuer is not None and issuer.rstrip("/") != provider.issuer:
        # RFC 9207: the answer names another issuer than the provider this sign-in began with (a
        # mix-up): its code is not sent anywhere.
        return "provider_error", "another issuer"
    return None
