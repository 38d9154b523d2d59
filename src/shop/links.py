"""OpenAPI links between shop's operations: which response value feeds which later request.

They cross contexts (a login's token opens the users context's profile), so they live beside the
composition root, not in any context; `bootstrap.create_app` hands them to the kernel's
`install_openapi`. Generated clients, the docs and schemathesis' stateful runs follow them.
"""

from __future__ import annotations

from shop.core.openapi import Links

_SIGNED_IN = {"header.Authorization": "Bearer {$response.body#/access_token}"}
_ADDRESS = {"path.address_id": "$response.body#/id"}


def _as_user(operation_id: str, description: str, **extra: object) -> dict[str, object]:
    return {"operationId": operation_id, "description": description, "parameters": _SIGNED_IN, **extra}


def _token_pair_links(password: str | None) -> dict[str, dict[str, object]]:
    """What a fresh token pair opens: the refresh chain and the signed-in user's own resources."""
    links: dict[str, dict[str, object]] = {
        "refresh": {
            "operationId": "auth_refresh",
            "description": "Rotate the refresh token of this sign-in.",
            "requestBody": {"refresh_token": "$response.body#/refresh_token"},
        },
        "me": _as_user("auth_me", "The signed-in user."),
        "sessions": _as_user("auth_sessions", "The user's sessions."),
        "profile": _as_user("users_get_profile", "The user's profile."),
        "update_profile": _as_user("users_update_profile", "Change the user's profile."),
        "addresses": _as_user("users_list_addresses", "The user's addresses."),
        "add_address": _as_user("users_create_address", "Add an address for the user."),
        "logout": _as_user("auth_logout", "End this session."),
    }
    if password is not None:
        links["delete_account"] = _as_user(
            "auth_delete_me", "Delete the account.", requestBody={"password": password}
        )
    return links


def _address_links(description: str) -> dict[str, dict[str, object]]:
    return {
        "get": {"operationId": "users_get_address", "description": description, "parameters": _ADDRESS},
        "replace": {
            "operationId": "users_replace_address",
            "description": description,
            "parameters": _ADDRESS,
        },
        "update": {"operationId": "users_update_address", "description": description, "parameters": _ADDRESS},
        "make_primary": {
            "operationId": "users_make_address_primary",
            "description": description,
            "parameters": _ADDRESS,
        },
        "delete": {"operationId": "users_delete_address", "description": description, "parameters": _ADDRESS},
    }


LINKS: Links = {
    "auth_register": {
        "201": {
            "login": {
                "operationId": "auth_login",
                "description": "Sign in with the new account (once its email is verified).",
                "requestBody": {"email": "$request.body#/email", "password": "$request.body#/password"},
            },
            "resend_verification": {
                "operationId": "auth_resend_verification",
                "description": "Ask for the verification mail again.",
                "requestBody": {"email": "$request.body#/email"},
            },
        }
    },
    "auth_login": {"200": _token_pair_links("$request.body#/password")},
    "auth_refresh": {"200": _token_pair_links(None)},
    "auth_sessions": {
        "200": {
            "revoke": {
                "operationId": "auth_revoke_session",
                "description": "Revoke the first listed session.",
                "parameters": {"path.session_id": "$response.body#/0/id"},
            }
        }
    },
    "users_create_address": {"201": _address_links("The address just added.")},
    "users_make_address_primary": {"200": _address_links("The new primary address.")},
    "localization_add_exchange_rate": {
        "201": {
            "get": {
                "operationId": "localization_get_exchange_rate",
                "description": "The rate of the pair just stored.",
                "parameters": {"path.from": "$response.body#/from", "path.to": "$response.body#/to"},
            }
        }
    },
}
