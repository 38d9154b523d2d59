"""HTTP endpoints of the signing keys: for other services (JWKS, metadata) and for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from shop.auth import errors
from shop.auth.dependencies import SigningKeyServiceDep
from shop.auth.keys.schemas import AuthorizationServerMetadata, JsonWebKeySet, SigningKeyOut
from shop.auth.tools import AuthTools
from shop.core.caching import Rendered, remember_answer
from shop.core.db import READS_ONLY, DatabaseDep
from shop.core.errors import Forbidden
from shop.core.openapi import operation_ids
from shop.core.problems import problem_responses
from shop.core.routing import ADMIN_PREFIX
from shop.core.security import AdminUser

# The keys are a context of their own in operation ids (`keys_*`), for other services and admins alike.
admin_router = APIRouter(
    prefix=ADMIN_PREFIX, tags=["admin"], generate_unique_id_function=operation_ids("keys")
)


keys_router = APIRouter(tags=["keys"], generate_unique_id_function=operation_ids("keys"))

# At most 300 s (API.md). Shorter is safer: a `next` key is published from one rotation to the
# next, so a verifier that follows max-age knows it before it signs unless two rotations come
# within this many seconds — and then its refetch on an unknown `kid` still finds it.
JWKS_MAX_AGE = 60
METADATA_MAX_AGE = 300


class _RenderedKeys:
    """The JWK set as last rendered, for the key ring's snapshot it was rendered from: a new
    snapshot (the ring reloads every few seconds, and at once after a rotation here) is rendered
    again, and its ETag changes only when the keys did."""

    def __init__(self) -> None:
        self._published: tuple[dict[str, Any], ...] | None = None
        self._rendered: Rendered | None = None

    def of(self, published: tuple[dict[str, Any], ...]) -> Rendered:
        rendered = self._rendered
        if rendered is None or published is not self._published:
            body = JsonWebKeySet.model_validate({"keys": list(published)}).model_dump_json().encode()
            if rendered is None or body != rendered.body:
                rendered = Rendered(body, cache_control=f"public, max-age={JWKS_MAX_AGE}")
            self._published, self._rendered = published, rendered
        return rendered


_JWKS = _RenderedKeys()


@keys_router.get(
    "/.well-known/jwks.json",
    response_model=JsonWebKeySet,
    summary="Public keys that verify access tokens (JWKS)",
    responses={304: {"description": "Not Modified: the `If-None-Match` tag still matches; no body."}},
)
async def jwks(request: Request, database: DatabaseDep) -> Response:
    """The public keys (RFC 7517) another service needs to verify shop's access tokens: the
    `active` key, the `next` key (published before it signs) and `retired` keys until every token
    they signed has expired. Pick the key by the token's `kid` and verify with the key's `alg`.
    Cache the set for `max-age` and fetch it again on an unknown `kid`. Empty with HS256.

    The answer carries a strong `ETag`, which changes when the keys do; send it back in
    `If-None-Match` to get `304 Not Modified` while they are unchanged."""
    # The tools from the app rather than a dependency: each dependency costs FastAPI's resolution
    # on every call, as much as the rest of this answer.
    tools: AuthTools = request.app.state.auth
    published = await tools.tokens.public_keys(database)
    rendered = _JWKS.of(published)
    # Answered again before routing until the key ring is due to read the keys again (or they
    # changed here): then the request comes back here.
    remember_answer(request, rendered, lambda: tools.tokens.still_publishes(published))
    return rendered.answer(request.headers.get("if-none-match"))


@keys_router.get(
    "/.well-known/oauth-authorization-server",
    dependencies=[READS_ONLY],
    response_model=AuthorizationServerMetadata,
    summary="Authorization server metadata (RFC 8414)",
)
async def authorization_server_metadata(
    service: SigningKeyServiceDep, response: Response
) -> AuthorizationServerMetadata:
    """Where the keys are (`jwks_uri`), which `issuer` access tokens carry, and the token endpoint
    (the OAuth2 password grant of `/api/v1/auth/token`). shop has no authorization endpoint."""
    response.headers["Cache-Control"] = f"public, max-age={METADATA_MAX_AGE}"
    return AuthorizationServerMetadata.model_validate(service.metadata())


@admin_router.get(
    "/keys",
    dependencies=[READS_ONLY],
    response_model=list[SigningKeyOut],
    tags=["keys"],
    responses=problem_responses(Forbidden, bearer=True),
)
async def list_keys(_: AdminUser, service: SigningKeyServiceDep) -> list[SigningKeyOut]:
    """Admin: the signing keys and their states (`next`, `active`, `retired`); never a private
    key. Empty with HS256."""
    return [SigningKeyOut.model_validate(key) for key in await service.listing()]


@admin_router.post(
    "/keys/rotate",
    response_model=list[SigningKeyOut],
    tags=["keys"],
    responses=problem_responses(Forbidden, errors.KeyRotationUnavailable, bearer=True),
)
async def rotate_keys(principal: AdminUser, service: SigningKeyServiceDep) -> list[SigningKeyOut]:
    """Admin: rotate now. `next` becomes active, the active key retires (it stays published until
    its last token has expired) and a new `next` is made. Every instance signs with the new key
    within 10 s; tokens signed before stay valid. 409 `key_rotation_unavailable` with HS256."""
    return [SigningKeyOut.model_validate(key) for key in await service.rotate(actor=principal.user_id)]
