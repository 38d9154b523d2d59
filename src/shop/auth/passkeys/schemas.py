"""Request and response bodies of the passkey routes. The WebAuthn JSON itself (options, responses) is
the browser's: it is passed through as an object, and py_webauthn reads and checks it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shop.auth.schemas import Password, StrictBody

NAME_MAX = 64
DEFAULT_NAME = "Passkey"


class PasswordConfirmation(StrictBody):
    """The account's password, to confirm a sensitive act (required of an account that has one)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery"}]})

    password: Password | None = None


class NewPasskey(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "credential": {
                        "id": "hM4s0b2n1Qk9dW7xY3vZ8A",
                        "rawId": "hM4s0b2n1Qk9dW7xY3vZ8A",
                        "type": "public-key",
                        "response": {
                            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0",
                            "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YQ",
                            "transports": ["internal", "hybrid"],
                        },
                        "clientExtensionResults": {},
                    },
                    "name": "Laptop",
                }
            ]
        },
    )

    credential: dict[str, Any] = Field(
        description="The `RegistrationResponseJSON` of `navigator.credentials.create()` (its `toJSON()`)."
    )
    name: str = Field(default=DEFAULT_NAME, min_length=1, max_length=NAME_MAX)


class PasskeyRename(StrictBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Work laptop"}]})

    name: str = Field(min_length=1, max_length=NAME_MAX)


class AuthenticationOptionsRequest(StrictBody):
    """Nothing: the authenticator, not the user, says which account signs in."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class PasskeySignIn(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "credential": {
                        "id": "hM4s0b2n1Qk9dW7xY3vZ8A",
                        "rawId": "hM4s0b2n1Qk9dW7xY3vZ8A",
                        "type": "public-key",
                        "response": {
                            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0",
                            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
                            "signature": "MEUCIQDx",
                            "userHandle": "q8Xo3bQ4a1Zk0mVd6yPwTg",
                        },
                        "clientExtensionResults": {},
                    }
                }
            ]
        },
    )

    credential: dict[str, Any] = Field(
        description="The `AuthenticationResponseJSON` of `navigator.credentials.get()` (its `toJSON()`)."
    )


class PasskeyOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b",
                    "name": "Laptop",
                    "created_at": "2026-12-05T09:30:00Z",
                    "last_used_at": "2026-12-06T08:15:00Z",
                    "backed_up": True,
                    "transports": ["internal", "hybrid"],
                    "aaguid": "08987058-cadc-4b81-b6e1-30de50dcbe96",
                }
            ]
        },
    )

    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool = Field(description="The authenticator says the passkey is backed up (synced).")
    transports: list[str]
    aaguid: uuid.UUID = Field(description="The authenticator's model (all zeros when it does not say).")


# The WebAuthn options are the browser's own JSON (PublicKeyCredentialCreationOptionsJSON and
# PublicKeyCredentialRequestOptionsJSON): documented by example, passed as they are to
# `PublicKeyCredential.parseCreationOptionsFromJSON()` / `parseRequestOptionsFromJSON()`.
CREATION_OPTIONS_EXAMPLE: dict[str, Any] = {
    "rp": {"name": "shop", "id": "shop.example.com"},
    "user": {
        "id": "q8Xo3bQ4a1Zk0mVd6yPwTgq8Xo3bQ4a1Zk0mVd6yPw",
        "name": "ada@example.com",
        "displayName": "ada@example.com",
    },
    "challenge": "r7Wq2Xz0aB9cD8eF7gH6iJ5kL4mN3oP2qR1sT0uV9wX",
    "pubKeyCredParams": [
        {"type": "public-key", "alg": -8},
        {"type": "public-key", "alg": -7},
        {"type": "public-key", "alg": -257},
    ],
    "timeout": 300000,
    "excludeCredentials": [],
    "authenticatorSelection": {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    },
    "attestation": "none",
}
REQUEST_OPTIONS_EXAMPLE: dict[str, Any] = {
    "rpId": "shop.example.com",
    "challenge": "r7Wq2Xz0aB9cD8eF7gH6iJ5kL4mN3oP2qR1sT0uV9wX",
    "timeout": 300000,
    "allowCredentials": [],
    "userVerification": "required",
}
