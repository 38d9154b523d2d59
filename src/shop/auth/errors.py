"""Errors of the auth context, each with its HTTP status and stable code. A refresh token that is
unknown, expired or whose session is revoked is answered with the kernel's token errors
(`shop.core.errors.TokenInvalid`, `TokenExpired`, `TokenRevoked`): the same codes, declared once."""

from __future__ import annotations

from shop.core.errors import Forbidden, NotFound, RateLimited, ServiceUnavailable, ShopError, Unauthorized


class MfaRequired(ShopError):
    """A second step is needed: at login (with a token for /mfa/verify) or for an admin route."""

    status, code, detail = 403, "mfa_required", "This needs two-step sign-in."


class EmailTaken(ShopError):
    status, code, detail = 409, "email_taken", "An account with this email already exists."


class InvalidCredentials(Unauthorized):
    code, detail = "invalid_credentials", "The email or password is wrong."


class EmailNotVerified(ShopError):
    status, code, detail = 403, "email_not_verified", "Confirm your email address before signing in."


class AccountDisabled(ShopError):
    status, code, detail = 403, "account_disabled", "This account has been disabled."


class AccountLocked(ShopError):
    status, code = 423, "account_locked"
    detail = "Too many failed sign-ins: the account is locked for a while."

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(max(1, retry_after))})


class EmailTokenInvalid(ShopError):
    """A verification or reset token that is unknown, used or expired (a 400, not a 401)."""

    status, code, detail = 400, "token_invalid", "The link is invalid, used or expired."


class CsrfFailed(ShopError):
    """Cookie mode: a request with the refresh cookie lacks the session's CSRF value, or a sign-in
    comes from another site."""

    status, code = 403, "csrf_failed"
    detail = "A request with the session cookie needs the X-CSRF-Token header of its session."


class TokenReused(Unauthorized):
    code, detail = "token_reused", "This refresh token was already used."


class InvalidCurrentPassword(ShopError):
    status, code, detail = 400, "invalid_current_password", "The current password is wrong."


class SecondStepRequired(MfaRequired):
    """A correct password for an account with two-step sign-in: no session yet, a code is awaited."""

    detail = "Enter a code from your authenticator app (or a recovery code) to finish signing in."
    example_extensions = {
        "mfa_token": "mJ4q2wP0cV7kX9sTzR1bYhN3eLfA6uGd",
        "methods": ["totp", "recovery_code"],
    }
    extension_schemas = {
        "mfa_token": {
            "type": "string",
            "description": "With `mfa_required` at sign-in: send it with a code to `/mfa/verify`.",
        },
        "methods": {
            "type": "array",
            "items": {"type": "string", "enum": ["totp", "recovery_code"]},
            "description": "With `mfa_required` at sign-in: the kinds of code `/mfa/verify` accepts.",
        },
    }

    def __init__(self, mfa_token: str, methods: list[str]) -> None:
        super().__init__(extensions={"mfa_token": mfa_token, "methods": methods})


class MfaEnabled(ShopError):
    status, code, detail = 409, "mfa_enabled", "Two-step sign-in is already on."


class InvalidCode(ShopError):
    """A wrong code where the caller is signed in already (setup, management)."""

    status, code, detail = 400, "invalid_code", "The code is wrong or was already used."


class InvalidSecondStep(Unauthorized):
    """A wrong code at /mfa/verify, and an unknown, spent or expired mfa_token: the same answer."""

    code, detail = (
        "invalid_code",
        "The code is wrong or was already used, or the sign-in attempt has expired.",
    )


class KeyRotationUnavailable(ShopError):
    status, code = 409, "key_rotation_unavailable"
    detail = "JWT_ALGORITHM is HS256: there are no key pairs to rotate (use EdDSA, ES256 or RS256)."


class SigningKeysSealedElsewhere(ServiceUnavailable):
    """The active or next private key does not open with JWT_SECRET_KEY: it was sealed under another
    one. An instance refuses to start with it and the command line says it in one line; an instance
    that meets it while running (an admin's rotation there) answers 503."""

    def __init__(self, kids: list[str]) -> None:
        self.kids = kids
        super().__init__(
            f"JWT_SECRET_KEY does not open the signing keys stored in the database ({', '.join(kids)}): "
            "they were sealed under another JWT_SECRET_KEY. Start with that one again; or, to change "
            "JWT_SECRET_KEY on purpose, run `shop keys rotate --new-secret` once with the new one "
            "(tokens signed before stay valid until they expire; enrolled authenticator apps and "
            "recovery codes stop working, see docs/VERIFYING-TOKENS.md)"
        )


class LastAdmin(ShopError):
    status, code = 409, "last_admin"
    detail = "This is the last active admin: make another admin first."


class ReauthenticationRequired(ShopError):
    """An account without a password confirms a sensitive act by a recent sign-in, and this
    session's is not recent enough."""

    status, code = 403, "reauthentication_required"
    detail = "Sign in again (with a passkey or another provider), then repeat the request."


class LastSignInMethod(ShopError):
    status, code = 409, "last_sign_in_method"
    detail = "This is the account's last way to sign in: add another (or set a password) first."


class OidcStateInvalid(ShopError):
    """The callback's `state` is unknown, spent or expired: there is nowhere safe to send the browser."""

    status, code = 400, "oidc_state_invalid"
    detail = "This sign-in link is invalid, used or expired: start signing in again."


class RedirectNotAllowed(ShopError):
    status, code = 422, "redirect_not_allowed"
    detail = "redirect_to is not an allowed address (OIDC_REDIRECT_ALLOWLIST)."


class OidcCodeInvalid(ShopError):
    """An unknown, spent or expired one-time code, or a verifier that does not match its challenge."""

    status, code, detail = 400, "token_invalid", "The code is invalid, used or expired."


class ProviderUnavailable(ServiceUnavailable):
    detail = "The provider cannot be reached or is not configured; try again later."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "30"})


class CsrfTokenMismatch(Forbidden):
    detail = "A request with the shop_refresh cookie needs the X-CSRF-Token header equal to shop_csrf."


class NoSigningKey(ServiceUnavailable):
    """This instance has no active key it can sign with: `ensure_keys` did not run (it runs at
    startup), or the key was sealed under another JWT_SECRET_KEY while this instance ran (`shop keys
    rotate --new-secret` with this one still up). A 503: the client may try another instance."""

    detail = "This instance cannot sign tokens now; try again later."


# What every admin route may answer besides its own errors.
ADMIN_ERRORS = (Forbidden, MfaRequired)


class PasskeyInvalid(ShopError):
    """A registration response that fails any check of WebAuthn §7.1 (or whose challenge is unknown,
    spent, expired or another account's)."""

    status, code, detail = 400, "passkey_invalid", "The passkey could not be verified."


class PasskeyExists(ShopError):
    status, code, detail = 409, "passkey_exists", "This passkey is registered already."


class PasskeyLimit(ShopError):
    status, code, detail = 409, "passkey_limit", "An account holds at most 10 passkeys: remove one first."


class PasskeyNotAccepted(InvalidCredentials):
    """Any failure of a passkey sign-in (WebAuthn §7.2, the challenge, the counter): one answer."""

    detail = "The passkey was not accepted."


# What removing a way to sign in (a passkey, a linked provider) may answer besides its own errors:
# the sign-in method is looked up, the password confirmed (or a recent sign-in), and the last one kept.
SIGN_IN_METHOD_REMOVAL_ERRORS = (
    NotFound,
    InvalidCurrentPassword,
    ReauthenticationRequired,
    LastSignInMethod,
    AccountLocked,
    RateLimited,
)
