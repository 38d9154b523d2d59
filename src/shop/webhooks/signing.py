"""Endpoint secrets and message signatures (Standard Webhooks, with its own library).

A secret is `whsec_` and the base64 of 32 random bytes; it is stored sealed (SecretBox, keyed from
JWT_SECRET_KEY) and shown only when it is made. During a rotation both the new and the previous
secret sign, space-separated in one `webhook-signature` header, which the library's verifier takes
as it is: a receiver that still has the previous secret verifies until it switches."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from shop.core.secretbox import SecretBox

PREFIX = "whsec_"
SECRET_BYTES = 32
# How long the previous secret keeps signing after a rotation.
ROTATION_OVERLAP_SECONDS = 24 * 3600


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


class SecretSeal:
    """Seals and opens endpoint secrets: a database dump alone opens none of them."""

    def __init__(self, root_secret: str) -> None:
        self._box = SecretBox(root_secret, "webhook-secret")

    def seal(self, secret: str) -> bytes:
        return self._box.seal(secret.encode())

    def open(self, sealed: bytes) -> str:
        return self._box.open(sealed).decode()


class Signer:
    """Signs messages with one secret or, during a rotation, two."""

    def __init__(self, secrets_in_use: list[str]) -> None:
        self._webhooks = [Webhook(secret) for secret in secrets_in_use]

    def signature(self, message_id: str, timestamp: datetime, body: bytes) -> str:
        return " ".join(webhook.sign(message_id, timestamp, body) for webhook in self._webhooks)
