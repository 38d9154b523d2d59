"""Operation ids: stable `<context>_<name>` for every operation (API.md Conventions), all unique."""

from __future__ import annotations

import re

from tests.support.app import offline_app

OPERATION_ID = re.compile(r"^(auth|users|localization|keys|webhooks|ops)_[a-z0-9_]+$")


def _operations() -> list[tuple[str, str, dict[str, object]]]:
    app = offline_app()
    schema = app.openapi()
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_id_is_context_and_name_and_unique() -> None:
    operations = _operations()
    ids = [str(operation.get("operationId")) for _, _, operation in operations]
    bad = [
        f"{method} {path}: {op_id}"
        for (method, path, _), op_id in zip(operations, ids, strict=True)
        if not OPERATION_ID.match(op_id)
    ]
    assert not bad, bad
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_operation_ids_follow_the_section_of_api_md() -> None:
    ids = {f"{method} {path}": str(operation["operationId"]) for method, path, operation in _operations()}
    assert ids["POST /api/v1/auth/login"] == "auth_login"
    assert ids["POST /api/v1/addresses/{address_id}/primary"] == "users_make_address_primary"
    assert ids["GET /api/v1/convert"] == "localization_convert"
    # Admin routes belong to the context that owns the data: users to auth, rates to localization.
    assert ids["PATCH /api/v1/admin/users/{user_id}"].startswith("auth_")
    assert ids["POST /api/v1/admin/exchange-rates"].startswith("localization_")
    assert ids["GET /health/ready"].startswith("ops_")
    assert ids["GET /metrics"].startswith("ops_")


def test_links_chain_register_login_profile_addresses_and_refresh() -> None:
    app = offline_app()
    paths = app.openapi()["paths"]

    def links(path: str, method: str, status: str) -> dict[str, str]:
        found = paths[path][method]["responses"][status]["links"]
        return {name: link["operationId"] for name, link in found.items()}

    assert links("/api/v1/auth/register", "post", "201")["login"] == "auth_login"
    signed_in = links("/api/v1/auth/login", "post", "200")
    assert {"auth_refresh", "users_get_profile", "users_create_address", "auth_delete_me"} <= set(
        signed_in.values()
    )
    assert links("/api/v1/auth/refresh", "post", "200")["refresh"] == "auth_refresh"
    assert "users_delete_address" in links("/api/v1/addresses", "post", "201").values()
    login = paths["/api/v1/auth/login"]["post"]["responses"]["200"]["links"]["me"]
    assert login["parameters"] == {"header.Authorization": "Bearer {$response.body#/access_token}"}


def test_validation_errors_are_documented_as_problems() -> None:
    app = offline_app()
    schema = app.openapi()
    for item in schema["paths"].values():
        for operation in item.values():
            response = operation["responses"].get("422")
            if response is not None:
                assert list(response["content"]) == ["application/problem+json"], operation["operationId"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
