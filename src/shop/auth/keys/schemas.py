"""The signing keys as admins see them, the JWK set and the authorization server metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

# The public JWK of the example key (SigningKeyOut's): the JWK's example and the set's second key.
RETIRED_KEY_JWK: dict[str, JsonValue] = {
    "kid": "Uo1Sy3hB0C2b5mX9uZqv1T6yq1Gf4kq9nS0W2q3rJxE",
    "kty": "OKP",
    "crv": "Ed25519",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    "alg": "EdDSA",
    "use": "sig",
}


class SigningKeyOut(BaseModel):
    """A signing key as the admin sees it: never its private half."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "kid": "Uo1Sy3hB0C2b5mX9uZqv1T6yq1Gf4kq9nS0W2q3rJxE",
                    "alg": "EdDSA",
                    "state": "retired",
                    "created_at": "2026-10-01T09:30:00Z",
                    "activated_at": "2026-10-20T09:30:00Z",
                    "retired_at": "2026-11-20T09:30:00Z",
                }
            ]
        },
    )

    kid: str
    alg: Literal["EdDSA", "ES256", "RS256"]
    state: Literal["next", "active", "retired"] = Field(
        description="`next` is published and signs after the next rotation; `active` signs; "
        "`retired` is published until the last token it signed has expired."
    )
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


class JsonWebKey(BaseModel):
    """A public JWK (RFC 7517): `crv` and `x` (Ed25519; `y` too for P-256), or `n` and `e` (RSA)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [RETIRED_KEY_JWK]},
    )

    kid: str
    kty: Literal["OKP", "EC", "RSA"]
    alg: Literal["EdDSA", "ES256", "RS256"]
    use: Literal["sig"]


class JsonWebKeySet(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "keys": [
                        {
                            "kid": "nYb3cR9Qz7kC1w8mW5dVqg0jL2hP4sT6uX8yA0bD2eF",
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "x": "LdCh0pLcmpr9tvp2aGVZ_JfRvJz8qHcR0Mx1oNVr3vg",
                            "alg": "EdDSA",
                            "use": "sig",
                        },
                        RETIRED_KEY_JWK,
                    ]
                }
            ]
        }
    )

    keys: list[JsonWebKey]


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 metadata: only what shop supports."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "issuer": "https://shop.example.com",
                    "jwks_uri": "https://shop.example.com/.well-known/jwks.json",
                    "token_endpoint": "https://shop.example.com/api/v1/auth/token",
                    "grant_types_supported": ["password"],
                    "token_endpoint_auth_methods_supported": ["none"],
                    "response_types_supported": [],
                }
            ]
        }
    )

    issuer: str
    jwks_uri: str
    token_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    response_types_supported: list[str]
