"""Two-step sign-in: enrolment, the second step of a login, recovery codes, turning it off (also by
an admin). Wrong codes count through the `Lockout` collaborator; the session of a completed second
step is made by the sessions capability's `SessionMinter`."""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from shop.auth.errors import AccountDisabled, InvalidCode, InvalidSecondStep, MfaEnabled
from shop.auth.lockout import Lockout
from shop.auth.metrics import LOGINS, MFA_CHANGES, MFA_VERIFICATIONS
from shop.auth.mfa import codes as mfa
from shop.auth.mfa.repository import MfaChallengeRepository, RecoveryCodeRepository, TotpFactorRepository
from shop.auth.mfa.schemas import TotpSetupResponse
from shop.auth.models import User
from shop.auth.reauth import Reauthentication
from shop.auth.repository import UserRepository
from shop.auth.sessions.repository import SessionRepository
from shop.auth.sessions.schemas import TokenPair
from shop.auth.sessions.service import SessionMinter
from shop.auth.tools import AuthTools, Client, audit, hash_token, signed_in, tell_owner
from shop.core.conflicts import tally
from shop.core.errors import NotFound
from shop.core.secretbox import SecretBoxError

logger = logging.getLogger("shop.auth")

# An unknown mfa_token still costs one code check, as a wrong code does.
_DECOY_SECRET = mfa.new_secret()


class MfaService:
    """Two-step sign-in of one request."""

    def __init__(
        self,
        session: AsyncSession,
        tools: AuthTools,
        lockout: Lockout,
        minter: SessionMinter,
        reauth: Reauthentication,
    ) -> None:
        self.session = session
        self.tools = tools
        self.settings = tools.settings
        self.lockout = lockout
        self.minter = minter
        self.reauth = reauth
        self.users = UserRepository(session)
        self.sessions = SessionRepository(session)
        self.challenges = MfaChallengeRepository(session)
        self.factors = TotpFactorRepository(session)
        self.recovery_codes = RecoveryCodeRepository(session)

    async def _mail(self, user: User, template: str) -> None:
        await tell_owner(self.session, user, template)

    def _open_secret(self, sealed: bytes, user_id: uuid.UUID) -> str | None:
        try:
            return self.tools.mfa_keys.open(sealed)
        except SecretBoxError:
            # JWT_SECRET_KEY changed since enrolment: no code can match; an admin can turn it off.
            logger.error("a TOTP secret does not open with the current key", extra={"user_id": str(user_id)})
            return None

    async def _accept_totp(self, user_id: uuid.UUID, code: str) -> str | None:
        """Accept a TOTP code of the user's enabled factor once. None, or why not."""
        factor = await self.factors.get(user_id)
        if factor is None or factor.enabled_at is None:
            return "mfa_off"
        secret = self._open_secret(factor.secret, user_id)
        step = mfa.matching_step(secret or _DECOY_SECRET, code, self.tools.clock())
        if secret is None or step is None:
            return "wrong_code"
        if not await self.factors.claim_step(user_id, step):
            return "replay"  # this step, or a later one, was accepted already
        return None

    async def _accept_recovery_code(self, user_id: uuid.UUID, code: str) -> str | None:
        """Spend the unused code `code` matches. Each stored hash has its own salt, so the code is
        checked against the user's unused ones (at most ten), the former HMAC form first (cheap)."""
        plain = mfa.normalise_recovery_code(code)
        if plain is None:
            return "wrong_code"
        legacy = self.tools.mfa_keys.recovery_codes.hash(user_id, plain) or b""
        stored = sorted(
            await self.recovery_codes.unused(user_id), key=mfa.is_legacy_recovery_hash, reverse=True
        )
        for code_hash in stored:
            if mfa.is_legacy_recovery_hash(code_hash):
                matches = hmac.compare_digest(code_hash, legacy)
            else:
                matches, _ = await self.tools.hasher.verify(plain, code_hash.decode("ascii"))
            if matches:
                # Atomic: of two concurrent uses of one code, exactly one spends it.
                return None if await self.recovery_codes.use(user_id, code_hash) else "wrong_code"
        return "wrong_code"

    async def _accept(self, user_id: uuid.UUID, method: str, code: str) -> str | None:
        if method == "totp":
            return await self._accept_totp(user_id, code)
        return await self._accept_recovery_code(user_id, code)

    async def _accept_any_code(self, user: User, code: str, client: Client, event: str) -> str:
        """A TOTP code or a recovery code, for the management endpoints; a wrong one counts as a
        failed login. Returns the method used."""
        method = "totp" if mfa.looks_like_totp(code) else "recovery_code"
        failure = await self._accept(user.id, method, code)
        tally(MFA_VERIFICATIONS.labels("manage", method, failure or "success").inc)
        if failure is not None:
            await self.lockout.count_failure(user.id, client, InvalidCode(), event=event, reason=failure)
        if method == "recovery_code":
            await audit(self.session, "recovery_code_use", "success", client, user.id, at=event)
        return method

    async def _replace_recovery_codes(self, user_id: uuid.UUID) -> list[str]:
        codes = mfa.new_recovery_codes()
        plains = [mfa.normalise_recovery_code(code) or "" for code in codes]
        hashes = await asyncio.gather(*(self.tools.hasher.hash(plain) for plain in plains))
        await self.recovery_codes.replace(user_id, [code_hash.encode("ascii") for code_hash in hashes])
        return codes

    # -- the second step of a login ---------------------------------------------------------

    async def mfa_verify(
        self, mfa_token: str, code: str | None, recovery_code: str | None, client: Client
    ) -> TokenPair:
        """The second step of a login: the mfa_token and a TOTP code or a recovery code."""
        token_hash = hash_token(mfa_token)
        method, given = ("totp", code) if code is not None else ("recovery_code", recovery_code or "")
        user, first_factor = await self._claim_challenge(token_hash, method, given, client)
        failure = await self._accept(user.id, method, given)
        tally(MFA_VERIFICATIONS.labels("verify", method, failure or "success").inc)
        if failure is not None:
            await self.lockout.count_failure(
                user.id,
                client,
                InvalidSecondStep(),
                event="mfa_verify",
                reason=f"{method}:{failure}",
                challenge=token_hash,
            )
        if not user.is_active:
            await self.lockout.refuse(
                AccountDisabled(), client, user.id, event="mfa_verify", reason="account_disabled"
            )
        await self.lockout.record_success(user.id, client, "mfa_verify")
        pair, _ = await self.minter.start(
            user, client, (first_factor, "otp"), event="mfa_verify", method=method
        )
        tally(LOGINS.labels("success").inc)
        if method == "recovery_code":
            left = await self.recovery_codes.count_unused(user.id)
            await audit(
                self.session, "recovery_code_use", "success", client, user.id, at="mfa_verify", left=left
            )
        return pair

    async def _claim_challenge(
        self, token_hash: bytes, method: str, given: str, client: Client
    ) -> tuple[User, str]:
        """The user of a live mfa_token and how its first step signed in (`pwd`, `fed`), claimed
        first: a concurrent verify of this token waits for this one, and finds it spent. Unknown
        tokens and locked accounts are refused here."""
        claimed = await self.challenges.claim(token_hash, client.ip)
        if claimed is None:
            if method == "totp":
                mfa.matching_step(_DECOY_SECRET, given, self.tools.clock())  # as much work as a wrong code
            tally(MFA_VERIFICATIONS.labels("verify", method, "unknown_token").inc)
            await self.lockout.refuse(
                InvalidSecondStep(), client, None, event="mfa_verify", reason="unknown_token"
            )
        user_id, first_factor = claimed
        user = await self.users.get(user_id)
        if user is None:  # pragma: no cover - challenges cascade with their user
            raise InvalidSecondStep()
        if self.lockout.locked_until(user) is not None:
            tally(MFA_VERIFICATIONS.labels("verify", method, "locked").inc)
            await self.lockout.refuse_if_locked(user, client, "mfa_verify")
        return user, first_factor

    # -- enrolment and management -----------------------------------------------------------

    async def mfa_setup(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, client: Client
    ) -> TotpSetupResponse:
        user = await signed_in(self.users, user_id)
        await self.reauth.confirm(user, password, session_id, client, "mfa_setup")
        secret = mfa.new_secret()
        if user.mfa_enabled or not await self.factors.put_pending(user_id, self.tools.mfa_keys.seal(secret)):
            raise MfaEnabled()
        uri = mfa.provisioning_uri(secret, user.email, self.settings.mfa_issuer)
        await audit(self.session, "mfa_setup", "success", client, user_id)
        return TotpSetupResponse(secret=secret, otpauth_uri=uri, qr_svg=mfa.qr_svg(uri))

    async def mfa_confirm(
        self, user_id: uuid.UUID, session_id: uuid.UUID, code: str, client: Client
    ) -> list[str]:
        """Turn two-step sign-in on with a first code from the app; answer the recovery codes."""
        user = await signed_in(self.users, user_id)
        await self.lockout.refuse_if_locked(user, client, "mfa_enable")  # every /mfa endpoint, while locked
        factor = await self.factors.get(user_id)
        if factor is None:
            raise NotFound("No two-step sign-in setup is pending: start one with /mfa/totp/setup.")
        if factor.enabled_at is not None:
            raise MfaEnabled()
        secret = self._open_secret(factor.secret, user_id)
        step = mfa.matching_step(secret, code, self.tools.clock()) if secret is not None else None
        tally(
            MFA_VERIFICATIONS.labels("confirm", "totp", "success" if step is not None else "wrong_code").inc
        )
        if step is None:
            # Not counted as a failed login: no secret is guessed here that the caller does not hold.
            await self.lockout.refuse(InvalidCode(), client, user_id, event="mfa_enable", reason="wrong_code")
        if not await self.factors.enable(user_id, step):
            raise MfaEnabled()  # a concurrent confirm won
        codes = await self._replace_recovery_codes(user_id)
        count = await self.sessions.revoke_all(user_id, "mfa_enabled", keep=session_id)
        await self._mail(user, "mfa_enabled")
        tally(MFA_CHANGES.labels("enabled").inc)
        await audit(self.session, "mfa_enable", "success", client, user_id, sessions_revoked=count)
        return codes

    async def _confirm_both(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        *,
        password: str | None,
        code: str,
        client: Client,
        event: str,
    ) -> User:
        """The password (or a recent sign-in) and a code, before turning off or replacing codes;
        wrong ones count."""
        user = await signed_in(self.users, user_id)
        await self.reauth.confirm(user, password, session_id, client, event)
        if not user.mfa_enabled:
            raise NotFound("Two-step sign-in is not on.")
        await self._accept_any_code(user, code, client, event)
        return user

    async def mfa_disable(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, code: str, client: Client
    ) -> None:
        user = await self._confirm_both(
            user_id, session_id, password=password, code=code, client=client, event="mfa_disable"
        )
        await self._turn_off(user_id)
        count = await self.sessions.revoke_all(user_id, "mfa_disabled", keep=session_id)
        await self._mail(user, "mfa_disabled")
        tally(MFA_CHANGES.labels("disabled").inc)
        await audit(self.session, "mfa_disable", "success", client, user_id, sessions_revoked=count)

    async def mfa_new_recovery_codes(
        self, user_id: uuid.UUID, session_id: uuid.UUID, password: str | None, code: str, client: Client
    ) -> list[str]:
        await self._confirm_both(
            user_id, session_id, password=password, code=code, client=client, event="recovery_codes_replace"
        )
        codes = await self._replace_recovery_codes(user_id)
        tally(MFA_CHANGES.labels("recovery_codes_replaced").inc)
        await audit(self.session, "recovery_codes_replace", "success", client, user_id)
        return codes

    async def _turn_off(self, user_id: uuid.UUID) -> bool:
        if not await self.factors.delete_enabled(user_id):
            return False
        await self.recovery_codes.delete_all(user_id)
        await self.challenges.spend_all(user_id)
        return True

    async def admin_turn_off_mfa(
        self, admin_id: uuid.UUID | None, user_id: uuid.UUID, client: Client
    ) -> None:
        """For a user who lost their device: audited, and the user is told by mail. `admin_id`
        None: the operator did it from the command line (`shop mfa-off`)."""
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        if not await self._turn_off(user_id):
            raise NotFound("Two-step sign-in is not on for this user.")
        await self._mail(user, "mfa_reset_by_admin")
        tally(MFA_CHANGES.labels("admin_reset").inc)
        by = str(admin_id) if admin_id else "command line"
        await audit(self.session, "mfa_admin_reset", "success", client, user_id, by=by)
