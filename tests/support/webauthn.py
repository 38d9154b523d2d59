"""A software authenticator for the passkey tests: real keys (ES256 on P-256, EdDSA on Ed25519, from
`cryptography`), `none` attestation, authenticator data with its flags and signature counter, and the
JSON a browser's `toJSON()` gives (RegistrationResponseJSON, AuthenticationResponseJSON).

CBOR is written by cbor2 (the same library py_webauthn reads it with); the test never parses what the
server checks. Every part a test may want to get wrong is a keyword: the origin, the RP ID, the
flags, the counter, the user handle, the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
Algorithm = Literal["ES256", "EdDSA"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    algorithm: Algorithm
    private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            numbers = self.private_key.public_key().public_numbers()
            key = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        else:
            raw = self.private_key.public_key().public_bytes_raw()
            key = {1: 1, 3: -8, -1: 6, -2: raw}
        return bytes(cbor2.dumps(key))

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self.private_key.sign(data)


@dataclass
class SoftAuthenticator:
    """A resident-key authenticator that verifies its user (UV) unless told not to."""

    origin: str
    algorithm: Algorithm = "ES256"
    aaguid: bytes = bytes(16)
    user_verified: bool = True
    # A counter of 0 for ever, as many synced passkeys do; else +1 per assertion.
    counts: bool = True
    credentials: dict[bytes, SoftCredential] = field(default_factory=dict)

    def _new_key(self) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
        if self.algorithm == "ES256":
            return ec.generate_private_key(ec.SECP256R1())
        return ed25519.Ed25519PrivateKey.generate()

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data, separators=(",", ":")).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        flags: int | None = None,
        credential_id: bytes | None = None,
        client_data_type: str = "webauthn.create",
    ) -> dict[str, Any]:
        """navigator.credentials.create(): a new resident credential, its RegistrationResponseJSON."""
        rp = rp_id or options["rp"]["id"]
        credential = SoftCredential(
            credential_id=credential_id or secrets.token_bytes(16),
            algorithm=self.algorithm,
            private_key=self._new_key(),
            rp_id=options["rp"]["id"],
            user_handle=unb64url(options["user"]["id"]),
        )
        self.credentials[credential.credential_id] = credential
        if flags is None:
            flags = UP | AT | (UV if self.user_verified else 0)
        attested = (
            self.aaguid
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_public_key()
        )
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([flags]) + struct.pack(">I", 0) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(client_data_type, options["challenge"], origin)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        flags: int | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
        bad_signature: bool = False,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): an assertion by one of its credentials (the only one, if
        there is one), as AuthenticationResponseJSON."""
        if credential_id is None:
            (credential_id,) = self.credentials
        credential = self.credentials[credential_id]
        if sign_count is None:
            if self.counts:
                credential.sign_count += 1
            sign_count = credential.sign_count
        if flags is None:
            flags = UP | (UV if self.user_verified else 0)
        rp = rp_id or options.get("rpId") or credential.rp_id
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.sign(auth_data + hashlib.sha256(client_data).digest())
        if bad_signature:
            signature = credential.sign(auth_data + hashlib.sha256(client_data + b" ").digest())
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle if user_handle is not None else credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }


# -- the steps of a passkey test over HTTP ---------------------------------------------------------

PASSKEYS = "/api/v1/auth/passkeys"


async def registration_options(client: Any, pair: dict[str, Any], password: str) -> Any:
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    return await client.post(f"{PASSKEYS}/registration-options", json={"password": password}, headers=headers)


async def add_passkey(
    client: Any, pair: dict[str, Any], authenticator: SoftAuthenticator, password: str, **create: Any
) -> Any:
    """Ask for options, let the authenticator make a credential, send it: the answer of POST /passkeys."""
    options = await registration_options(client, pair, password)
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json(), **create)
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    return await client.post(PASSKEYS, json={"credential": credential, "name": "Test key"}, headers=headers)


async def sign_in_options(client: Any) -> dict[str, Any]:
    response = await client.post(f"{PASSKEYS}/authentication-options", json={})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def passkey_sign_in(client: Any, authenticator: SoftAuthenticator, **get: Any) -> Any:
    """Ask for a challenge, let the authenticator answer it: the answer of /passkeys/authenticate."""
    assertion = authenticator.get(await sign_in_options(client), **get)
    return await client.post(f"{PASSKEYS}/authenticate", json={"credential": assertion})
