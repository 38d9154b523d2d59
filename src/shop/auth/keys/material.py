"""Signing key material: generating keys, their public JWK and `kid`, their PEM, and the box that
keeps private keys encrypted at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from shop.core.secretbox import SecretBox

ASYMMETRIC: tuple[str, ...] = ("EdDSA", "ES256", "RS256")
SECRETBOX_PURPOSE = "jwt-signing-keys"
RSA_BITS = 2048

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def is_asymmetric(algorithm: str) -> bool:
    return algorithm in ASYMMETRIC


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    raise ValueError(f"no key pairs for {algorithm}")


def public_jwk(public_key: PublicKey, algorithm: str) -> dict[str, str]:
    """The public parameters only, with `kid` (the RFC 7638 thumbprint), `alg` and `use`."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        params = OKPAlgorithm.to_jwk(public_key, as_dict=True)
        required: tuple[str, ...] = ("crv", "kty", "x")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        params = ECAlgorithm.to_jwk(public_key, as_dict=True)
        required = ("crv", "kty", "x", "y")
    else:
        params = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        required = ("e", "kty", "n")
    members = {name: str(params[name]) for name in required}
    return {"kid": thumbprint(members), **members, "alg": algorithm, "use": "sig"}


def thumbprint(members: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace; base64url."""
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def private_pem(private_key: PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_pem(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("not a signing key of a supported type")
    return key


def hs256_kid(secret: str) -> str:
    """A stable name for the shared secret that says nothing about it (an HMAC, not a hash of it)."""
    digest = hmac.new(secret.encode(), b"shop:jwt:kid", hashlib.sha256).digest()
    return "hs256-" + base64.urlsafe_b64encode(digest[:12]).decode()


def key_box(root_secret: str) -> SecretBox:
    return SecretBox(root_secret, SECRETBOX_PURPOSE)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key pair, ready to be stored: the private half already sealed."""

    kid: str
    alg: str
    public_jwk: dict[str, str]
    sealed_private_key: bytes


def new_key(algorithm: str, box: SecretBox) -> NewKey:
    private_key = generate_private_key(algorithm)
    jwk = public_jwk(private_key.public_key(), algorithm)
    return NewKey(jwk["kid"], algorithm, jwk, box.seal(private_pem(private_key)))
