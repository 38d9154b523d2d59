"""/token speaks OAuth2 as well as problem+json (RFC 6749 §5.2): each refusal also carries `error` and
`error_description`, so that an OAuth2 client — Swagger UI's Authorize dialog — can say why sign-in
failed. `invalid_request` for a malformed form (422), `slow_down` for the rate limit (429), and
`invalid_grant` for every refusal of the credentials (401, 403, 423)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from shop.core.errors import ShopError
from shop.core.problems import clean_validation_errors, problem_response

_BY_STATUS = {
    422: "invalid_request",
    429: "slow_down",
    401: "invalid_grant",
    403: "invalid_grant",
    423: "invalid_grant",
}


def oauth2_members(status: int, description: str) -> dict[str, str]:
    error = _BY_STATUS.get(status)
    return {} if error is None else {"error": error, "error_description": description}


class OAuth2TokenRoute(APIRoute):
    """The route class of /token: its validation failures and refusals get the OAuth2 members."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def token_route(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                errors = clean_validation_errors(exc.errors())
                fields = ", ".join(str(error["loc"][-1]) for error in errors if error["loc"])
                return problem_response(
                    422,
                    "validation_error",
                    "The request is not valid.",
                    errors=errors,
                    extensions=oauth2_members(422, f"The form is not valid: {fields or 'body'}."),
                )
            except ShopError as exc:
                exc.extensions.update(oauth2_members(exc.status, exc.detail))
                raise

        return token_route
