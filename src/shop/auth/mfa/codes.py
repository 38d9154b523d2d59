"""Two-step sign-in, the pure part: TOTP codes (RFC 6238), recovery codes and their hashes.

No database and no HTTP here: the service stores what these functions make and decides what a
match means (a time step accepted once is refused again — that memory lives in the database, so it
holds across workers and instances)."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import uuid
from dataclasses import dataclass

import pyotp

from shop.core.secretbox import SecretBox

DIGITS = 6
INTERVAL_SECONDS = 30
# RFC 6238 §5.2: accept one step of clock drift either side, no more.
DRIFT_STEPS = 1
# 160 bits, the key length RFC 4226 §4 recommends; 32 base32 characters.
SECRET_BYTES = 20
RECOVERY_CODE_COUNT = 10
# Crockford's base32: no I, L, O, U, so a code read aloud or copied by hand survives.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_CODE_LENGTH = 10  # 50 bits each, hashed with a server-side key (below)
_CROCKFORD_ALIASES = str.maketrans({"o": "0", "i": "1", "l": "1"})
# The methods /login names in its `mfa_required` answer.
METHODS = ("totp", "recovery_code")


def new_secret() -> str:
    return pyotp.random_base32(length=SECRET_BYTES * 8 // 5)


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """The `otpauth://totp/…` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS).provisioning_uri(
        name=email, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as a standalone SVG QR code, drawn in-process (the secret never leaves the server)."""
    # Imported here: only enrolment draws a code, and segno's encoder costs every worker about 1 MB.
    import segno

    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", xmldecl=False, nl=False, scale=4, border=4, title="Two-step sign-in"
    )
    return buffer.getvalue().decode("ascii")


def time_step(at: float) -> int:
    return int(at // INTERVAL_SECONDS)


def normalise_totp(code: str) -> str | None:
    """`123 456` and ` 123456 ` are what people type; anything but six digits is no TOTP code."""
    digits = "".join(code.split())
    if len(digits) != DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The latest time step whose code is `code`, within one step either side of `at`; None if none is.

    Every candidate is compared, in constant time, whatever matched."""
    digits = normalise_totp(code)
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS)
    current = time_step(at)
    found: int | None = None
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        expected = totp.generate_otp(current + offset)
        if hmac.compare_digest(expected, digits or "-"):
            found = current + offset
    return found


def looks_like_totp(code: str) -> bool:
    return normalise_totp(code) is not None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Fresh codes shown as `xxxxx-xxxxx`; each is unique within the set."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH)))
    half = RECOVERY_CODE_LENGTH // 2
    return [f"{code[:half]}-{code[half:]}" for code in sorted(codes)]


def normalise_recovery_code(code: str) -> str | None:
    """Case, dashes and spaces do not matter, nor Crockford's look-alikes (O for 0, I or L for 1)."""
    plain = "".join(code.split()).replace("-", "").lower().translate(_CROCKFORD_ALIASES)
    if len(plain) != RECOVERY_CODE_LENGTH or any(char not in RECOVERY_ALPHABET for char in plain):
        return None
    return plain


ARGON2_PREFIX = b"$argon2"


def is_legacy_recovery_hash(stored: bytes) -> bool:
    """Recovery codes are stored as argon2id hashes (PHC strings, each with its own random salt, as
    ASVS 6.5.2 asks of secrets this short), made by the password hasher. Codes made before were
    stored as the HMAC below: they keep working until each is used or the set is replaced (an HMAC
    cannot be turned into an argon2 hash without the code, which only its owner has)."""
    return not stored.startswith(ARGON2_PREFIX)


@dataclass(frozen=True, slots=True)
class RecoveryCodeHasher:
    """The former form of a stored recovery code, verified only: HMAC-SHA-256 keyed from the root
    secret, over the user id and the code (see `is_legacy_recovery_hash`)."""

    key: bytes

    @classmethod
    def from_root(cls, root_secret: str) -> RecoveryCodeHasher:
        return cls(hmac.new(root_secret.encode(), b"shop/mfa/recovery-codes/v1", hashlib.sha256).digest())

    def hash(self, user_id: uuid.UUID, code: str) -> bytes | None:
        """The stored form of `code`, or None when it cannot be a recovery code at all."""
        plain = normalise_recovery_code(code)
        if plain is None:
            return None
        return hmac.new(self.key, user_id.bytes + plain.encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class MfaKeys:
    """The keys of two-step sign-in, all derived from the root secret (JWT_SECRET_KEY)."""

    secrets: SecretBox
    recovery_codes: RecoveryCodeHasher

    @classmethod
    def from_root(cls, root_secret: str) -> MfaKeys:
        return cls(SecretBox(root_secret, "totp-secret"), RecoveryCodeHasher.from_root(root_secret))

    def seal(self, secret: str) -> bytes:
        return self.secrets.seal(secret.encode())

    def open(self, sealed: bytes) -> str:
        """Raises SecretBoxError when the root secret changed since the secret was sealed."""
        return self.secrets.open(sealed).decode()
