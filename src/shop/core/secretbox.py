"""Encryption at rest for small secrets (signing keys, TOTP secrets).

The key is derived from the root secret (`JWT_SECRET_KEY`, or the development key) with HKDF, one key
per purpose, so a leak of one kind of sealed value says nothing about another, and a database dump
alone opens nothing. AES-256-GCM authenticates: a tampered value or a changed root secret fails to
open instead of yielding garbage."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_BYTES = 12


class SecretBoxError(Exception):
    """A sealed value could not be opened: tampered, truncated, or sealed under another root secret."""


class SecretBox:
    def __init__(self, root_secret: str, purpose: str) -> None:
        if not root_secret:
            raise ValueError("a root secret is required")
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"shop:secretbox:" + purpose.encode()
        ).derive(root_secret.encode())
        self._aead = AESGCM(key)
        # The purpose is also bound as associated data: a value sealed for one use never opens as another.
        self._purpose = purpose.encode()

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, self._purpose)

    def open(self, sealed: bytes) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != VERSION:
            raise SecretBoxError("not a sealed value")
        nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, self._purpose)
        except InvalidTag as exc:
            raise SecretBoxError("the sealed value does not open with this key") from exc
