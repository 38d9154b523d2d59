"""The kernel through HTTP: problem+json errors, request ids, health, metrics, docs."""

from __future__ import annotations

import inspect

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordRequestForm

from tests.support.app import AppWith, http_client
from tests.support.problems import assert_problem


async def test_unknown_route_is_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nowhere")
    body = assert_problem(response, 404, "not_found")
    assert set(body) >= {"type", "title", "status", "detail", "code"}


async def test_wrong_method_is_problem_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health/live")
    assert_problem(response, 405, "method_not_allowed")


async def test_request_id_is_echoed_when_well_formed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc.DEF_123-x"})
    assert response.headers["x-request-id"] == "abc.DEF_123-x"


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "semi;colon", "ünï"])
async def test_request_id_is_replaced_when_malformed(client: httpx.AsyncClient, given: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": given.encode()})
    rid = response.headers["x-request-id"]
    assert rid != given and 1 <= len(rid) <= 128


async def test_request_id_on_errors_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.headers["x-request-id"]


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    for path in ("/health/ready", "/health"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json()["database"] == "ok"


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'shop_http_requests_total{method="GET",route="/health/live",status="200"}' in response.text


async def test_docs_are_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assert "/docs-assets/" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        response = await client.get(f"/docs-assets/{asset}")
        assert response.status_code == 200
        assert len(response.content) > 10_000
    schema = (await client.get("/openapi.json")).json()
    assert schema["info"]["title"] == "shop"


async def test_cors_for_configured_origins(app_with: AppWith) -> None:
    async with (
        app_with(cors_origins="https://spa.example, https://admin.example") as app,
        http_client(app) as client,
    ):
        preflight = await client.options(
            "/api/v1/auth/login",
            headers={
                "Origin": "https://spa.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type, X-Request-ID",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://spa.example"
        allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "x-request-id"} <= allowed
        simple = await client.get("/health/live", headers={"Origin": "https://admin.example"})
        exposed = {h.strip().lower() for h in simple.headers["access-control-expose-headers"].split(",")}
        assert exposed == {"x-request-id", "retry-after"}
        stranger = await client.get("/health/live", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"Origin": "https://spa.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_unexpected_errors_are_bare_500_problems(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    response = await client.get("/boom")
    assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"]


async def test_openapi_documents_problem_responses(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]
    responses = schema["paths"]["/api/v1/auth/register"]["post"]["responses"]
    assert (
        responses["409"]["content"]["application/problem+json"]["schema"]["allOf"][0]["$ref"]
        == "#/components/schemas/Problem"
    )
    assert "email_taken" in responses["409"]["description"]
    me = schema["paths"]["/api/v1/auth/me"]["get"]
    assert "401" in me["responses"] and me["security"]


def _runs_on_the_loop(call: object) -> bool:
    method = getattr(call, "__call__", None)  # noqa: B004 - a dependency may be an instance
    return any(inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c) for c in (call, method))


def test_no_endpoint_or_dependency_runs_in_a_thread(app: FastAPI) -> None:
    """FastAPI runs a plain `def` endpoint or dependency in its thread pool: a hand-over to a
    thread and back (and a fight for the GIL) per call, several per request on the hot path. Every
    one is `async def`; only the framework's OAuth2 form class (POST /auth/token) is exempt."""
    exempt = {OAuth2PasswordRequestForm}
    in_threads: set[str] = set()

    def walk(dependant: Dependant) -> None:
        if (
            dependant.call is not None
            and dependant.call not in exempt
            and not _runs_on_the_loop(dependant.call)
        ):
            in_threads.add(getattr(dependant.call, "__qualname__", repr(dependant.call)))
        for sub in dependant.dependencies:
            walk(sub)

    routes = [route for route in app.router.routes if isinstance(route, APIRoute)]
    for context in iter_route_contexts(app.router.routes):
        if isinstance(context.original_route, APIRoute):
            routes.append(context.original_route)
    assert len(routes) > 50
    for route in routes:
        walk(route.dependant)
    assert not in_threads, f"sync endpoints or dependencies (make them async def): {sorted(in_threads)}"
