"""The rules of passkeys: registration (WebAuthn §7.1) and sign-in (§7.2), through py_webauthn.

The service meets the rest of auth through the collaborators every capability receives: the
`Lockout` (the password check, a refusal's own unit of work) and the `SessionMinter` (a new session
with its `amr`); re-authentication is one method, `_confirm`, that the rule for accounts without a
password replaces.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import parse_authentication_credential_json, parse_client_data_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_registration_credential_json import parse_registration_credential_json
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from shop.auth.errors import (
    AccountDisabled,
    EmailNotVerified,
    LastSignInMethod,
    PasskeyExists,
    PasskeyInvalid,
    PasskeyLimit,
    PasskeyNotAccepted,
)
from shop.auth.lockout import Lockout
from shop.auth.mails import render_mail
from shop.auth.metrics import LOGINS
from shop.auth.models import Passkey, User
from shop.auth.passkeys.repository import AUTHENTICATE, REGISTER, PasskeyRepository, SigningPasskey
from shop.auth.providers.repository import IdentityRepository
from shop.auth.reauth import Reauthentication
from shop.auth.repository import UserRepository
from shop.auth.sessions.schemas import TokenPair, TokenUser
from shop.auth.sessions.service import SessionMinter
from shop.auth.tools import AuthTools, Client, audit, signed_in
from shop.core.config import Settings
from shop.core.conflicts import tally
from shop.core.errors import NotFound, ShopError
from shop.core.logging import bind_user
from shop.core.mail.outbox import enqueue
from shop.users import public as users

logger = logging.getLogger("shop.auth.passkeys")

MAX_PASSKEYS = 10
CHALLENGE_BYTES = 32
HANDLE_BYTES = 32
CHALLENGE_TTL_SECONDS = 300
TIMEOUT_MS = CHALLENGE_TTL_SECONDS * 1000
# RFC 8176: proof of possession of a key, and more than one factor (the key and the authenticator's
# user verification: a PIN or a biometric).
PASSKEY_AMR = ("pop", "mfa")
# EdDSA first (the authenticator picks the first it supports), then ES256 and RS256.
ALGORITHMS = [
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


def hash_challenge(challenge: bytes) -> bytes:
    return hashlib.sha256(challenge).digest()


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the passkeys are for (WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME) and where a response may come from
    (WEBAUTHN_ORIGINS)."""

    id: str
    name: str
    origins: list[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> RelyingParty:
        return cls(
            settings.webauthn_relying_party_id, settings.webauthn_rp_name, settings.webauthn_accepted_origins
        )


class PasskeyService:
    def __init__(
        self,
        session: AsyncSession,
        tools: AuthTools,
        lockout: Lockout,
        minter: SessionMinter,
        reauth: Reauthentication,
    ) -> None:
        self.reauth = reauth
        self.session = session
        self.tools = tools
        self.lockout = lockout
        self.minter = minter
        self.users = UserRepository(session)
        self.passkeys = PasskeyRepository(session)
        self.rp = RelyingParty.from_settings(tools.settings)

    # -- the few touch points with the rest of auth -----------------------------------------------

    async def _confirm(
        self, user: User, password: str | None, session_id: uuid.UUID, client: Client, event: str
    ) -> None:
        """Re-authentication before a sensitive act: the password of an account that has one (a
        wrong one counts towards the lockout), else a recent sign-in of `session_id`."""
        await self.reauth.confirm(user, password, session_id, client, event)

    async def _mail(self, user: User, template: str, **values: str) -> None:
        language = await users.preferred_language(self.session, user.id)
        await enqueue(self.session, user.email, render_mail(template, language, **values))

    # -- registration (WebAuthn §7.1) -------------------------------------------------------------

    async def registration_options(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, client: Client
    ) -> dict[str, Any]:
        user = await signed_in(self.users, user_id)
        await self._confirm(user, password, session_id, client, "passkey_register")
        if not user.email_verified:
            raise EmailNotVerified("Confirm your email address before adding a passkey.")
        if await self.passkeys.count(user_id) >= MAX_PASSKEYS:
            raise PasskeyLimit()
        handle = await self.passkeys.handle_of(user_id, secrets.token_bytes(HANDLE_BYTES))
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        await self.passkeys.add_challenge(hash_challenge(challenge), REGISTER, user_id, CHALLENGE_TTL_SECONDS)
        excluded = [
            PublicKeyCredentialDescriptor(id=cid) for cid in await self.passkeys.credential_ids(user_id)
        ]
        options = generate_registration_options(
            rp_id=self.rp.id,
            rp_name=self.rp.name,
            user_id=handle,
            user_name=user.email,
            user_display_name=user.email,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=excluded,
            supported_pub_key_algs=ALGORITHMS,
        )
        result: dict[str, Any] = json.loads(options_to_json(options))
        return result

    async def add(self, user_id: uuid.UUID, credential: dict[str, Any], name: str, client: Client) -> Passkey:
        user = await signed_in(self.users, user_id)
        try:
            parsed = parse_registration_credential_json(credential)
            challenge = parse_client_data_json(parsed.response.client_data_json).challenge
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            await self._refuse_registration(user_id, client, None, "malformed", exc)
        challenge_hash = hash_challenge(challenge)
        if not await self.passkeys.claim_challenge(challenge_hash, REGISTER, user_id):
            # Unknown, spent, expired, or another account's: that account's challenge stays as it was.
            await self._refuse_registration(user_id, client, None, "challenge")
        try:
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp.id,
                expected_origin=self.rp.origins,
                require_user_presence=True,
                require_user_verification=True,
                supported_pub_key_algs=ALGORITHMS,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            await self._refuse_registration(user_id, client, challenge_hash, "verification", exc)
        # The account's row, locked: ten passkeys at most, also when two are added at once.
        await self.users.lock_for_update(user_id)
        if await self.passkeys.count(user_id) >= MAX_PASSKEYS:
            raise PasskeyLimit()
        passkey = await self.passkeys.add(
            user_id=user_id,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=_transports(parsed),
            backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backed_up=verified.credential_backed_up,
            aaguid=uuid.UUID(verified.aaguid),
            name=name,
        )
        if passkey is None:
            await self._refuse_registration(user_id, client, challenge_hash, "exists", error=PasskeyExists())
        await self._mail(user, "passkey_added", passkey=name)
        await audit(self.session, "passkey_add", "success", client, user_id, passkey_id=str(passkey.id))
        return passkey

    async def _refuse_registration(
        self,
        user_id: uuid.UUID,
        client: Client,
        challenge_hash: bytes | None,
        reason: str,
        exc: Exception | None = None,
        *,
        error: ShopError | None = None,
    ) -> NoReturn:
        async with self.lockout.refusal() as session:
            if challenge_hash is not None:
                await PasskeyRepository(session).spend_challenge(challenge_hash, REGISTER)
            details = {"reason": reason} | ({"detail": str(exc)[:200]} if exc is not None else {})
            await audit(session, "passkey_add", "failure", client, user_id, **details)
        raise error or PasskeyInvalid()

    # -- management -------------------------------------------------------------------------------

    async def list(self, user_id: uuid.UUID) -> list[Passkey]:
        return await self.passkeys.list_newest(user_id)

    async def rename(self, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str) -> Passkey:
        passkey = await self.passkeys.rename(user_id, passkey_id, name)
        if passkey is None:
            raise NotFound("No such passkey.")
        return passkey

    async def remove(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        passkey_id: uuid.UUID,
        password: str | None,
        client: Client,
    ) -> None:
        # The account's row first: of two removals at once the second sees what the first left.
        await self.users.lock_for_update(user_id)
        user = await signed_in(self.users, user_id)
        await self._confirm(user, password, session_id, client, "passkey_remove")
        # The last way back in stays: an account without a password and without linked identities
        # keeps its last passkey.
        if (
            user.password_hash is None
            and await self.passkeys.count(user_id) <= 1
            and await IdentityRepository(self.session).count_for(user_id) == 0
        ):
            raise LastSignInMethod()
        passkey = await self.passkeys.delete(user_id, passkey_id)
        if passkey is None:
            raise NotFound("No such passkey.")
        await self._mail(user, "passkey_removed", passkey=passkey.name)
        await audit(self.session, "passkey_remove", "success", client, user_id, passkey_id=str(passkey_id))

    # -- sign-in (WebAuthn §7.2) ------------------------------------------------------------------

    async def authentication_options(self) -> dict[str, Any]:
        """Discoverable sign-in: no `allowCredentials`, the authenticator offers the passkeys it holds
        for this relying party, and the response's `userHandle` names the account."""
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        await self.passkeys.add_challenge(
            hash_challenge(challenge), AUTHENTICATE, None, CHALLENGE_TTL_SECONDS
        )
        options = generate_authentication_options(
            rp_id=self.rp.id,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            allow_credentials=[],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        result: dict[str, Any] = json.loads(options_to_json(options))
        return result

    async def authenticate(self, credential: dict[str, Any], client: Client) -> TokenPair:
        """Two statements (the request's session is a one-statement one, in autocommit): the
        challenge claimed with the credential's passkey and account read, then — the assertion
        verified in between — the passkey's use and the new session, only while the rules still hold
        on the rows as they are then."""
        # Nothing may fail for want of a key after the session is written (it commits by itself).
        await self.tools.tokens.ready(self.session)
        try:
            parsed = parse_authentication_credential_json(credential)
            challenge = parse_client_data_json(parsed.response.client_data_json).challenge
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            await self._refuse_sign_in(client, None, None, "malformed", exc)
        challenge_hash = hash_challenge(challenge)
        claimed, found = await self.passkeys.claim_for_sign_in(challenge_hash, parsed.raw_id)
        if not claimed:
            await self._refuse_sign_in(client, None, None, "challenge")
        if found is None:
            await self._refuse_sign_in(client, challenge_hash, None, "unknown_credential")
        passkey = found
        if parsed.response.user_handle is None or not secrets.compare_digest(
            parsed.response.user_handle, passkey.handle
        ):
            await self._refuse_sign_in(client, challenge_hash, passkey.user_id, "user_handle")
        verified = await self._verified_assertion(parsed, challenge, challenge_hash, passkey, client)
        if not passkey.is_active:
            await self._refuse_disabled(client, challenge_hash, passkey.user_id)
        # The passkey's use and the new session in one statement; the account's last sign-in is
        # stamped there too (a passkey neither unlocks nor resets what wrong passwords did).
        opening = self.minter.opening(
            client,
            PASSKEY_AMR,
            event="passkey_sign_in",
            sign_in_time=True,
            passkey_id=str(passkey.passkey_id),
        )
        presented = verified.new_sign_count
        session_id = await self.passkeys.sign_in(
            passkey.passkey_id, presented, verified.credential_backed_up, opening.parameters
        )
        if session_id is None:
            await self._refuse_changed(client, challenge_hash, passkey, presented)
        user = TokenUser(id=passkey.user_id, email=passkey.email, email_verified=passkey.email_verified)
        pair = await self.minter.finish(user, session_id, opening)
        tally(LOGINS.labels("success").inc)
        bind_user(passkey.user_id)
        return pair

    async def _verified_assertion(
        self,
        parsed: AuthenticationCredential,
        challenge: bytes,
        challenge_hash: bytes,
        passkey: SigningPasskey,
        client: Client,
    ) -> VerifiedAuthentication:
        """The passkey's signature over the challenge, checked, and its signature counter judged;
        any failure refuses the sign-in."""
        try:
            # The counter is judged below, after the signature: the library is given 0 so that it
            # verifies the signature whatever the counter says, and a clone is told apart.
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp.id,
                expected_origin=self.rp.origins,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            await self._refuse_sign_in(client, challenge_hash, passkey.user_id, "verification", exc)
        presented, stored = verified.new_sign_count, passkey.sign_count
        if presented != 0 and stored != 0 and presented <= stored:
            await self._refuse_clone(client, challenge_hash, passkey, stored, presented)
        return verified

    async def _refuse_clone(
        self, client: Client, challenge_hash: bytes, passkey: SigningPasskey, stored: int, presented: int
    ) -> NoReturn:
        # WebAuthn §7.2, the signature counter: two copies of one key may be in use (a clone).
        await self._refuse_sign_in(
            client,
            challenge_hash,
            passkey.user_id,
            "counter",
            event="passkey_clone_suspected",
            passkey_id=str(passkey.passkey_id),
            stored=stored,
            presented=presented,
        )

    async def _refuse_disabled(self, client: Client, challenge_hash: bytes, user_id: uuid.UUID) -> NoReturn:
        await self._refuse_sign_in(
            client, challenge_hash, user_id, "account_disabled", error=AccountDisabled()
        )

    async def _refuse_changed(
        self, client: Client, challenge_hash: bytes, passkey: SigningPasskey, presented: int
    ) -> NoReturn:
        """The sign-in's statement found a rule broken that held at the claim: the account was
        disabled, the passkey removed, or another sign-in raised its counter to `presented` or past
        it (a clone, signing in at the same moment) in between. Refused as any of those is."""
        standing = await self.passkeys.standing(passkey.passkey_id)
        if standing is None:
            await self._refuse_sign_in(client, challenge_hash, passkey.user_id, "unknown_credential")
        stored, active = standing
        if not active:
            await self._refuse_disabled(client, challenge_hash, passkey.user_id)
        await self._refuse_clone(client, challenge_hash, passkey, stored, presented)

    async def _refuse_sign_in(
        self,
        client: Client,
        challenge_hash: bytes | None,
        user_id: uuid.UUID | None,
        reason: str,
        exc: Exception | None = None,
        *,
        error: ShopError | None = None,
        event: str = "passkey_sign_in",
        **details: object,
    ) -> NoReturn:
        """Refuse a sign-in: audited, and its challenge spent (it had its one try), in the refusal's
        own unit of work. Every failure answers alike (401 `invalid_credentials`)."""
        async with self.lockout.refusal() as session:
            if challenge_hash is not None:
                await PasskeyRepository(session).spend_challenge(challenge_hash, AUTHENTICATE)
            extra = {"reason": reason, **details} | ({"detail": str(exc)[:200]} if exc is not None else {})
            await audit(session, event, "failure", client, user_id, **extra)
        tally(LOGINS.labels(error.code if error is not None else "invalid_credentials").inc)
        raise error or PasskeyNotAccepted()


def _transports(credential: RegistrationCredential) -> list[str]:
    return [str(t.value) for t in credential.response.transports or [] if t.value in _TRANSPORTS][:8]
