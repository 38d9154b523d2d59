"""Swagger UI and ReDoc served from the package's own assets: the docs work with no internet."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs-assets"
# ReDoc's sidebar footer loads Redocly's logo from their CDN, whatever the options say. Served from
# here with the logo pointed at our own favicon, the page asks nothing of any other host.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_JS = "redoc.standalone.js"

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(html: bytes) -> str:
    """The policy of a docs page: scripts from this host and the page's own inline scripts (by their
    hash, nothing else inline), styles from here (Swagger UI and ReDoc set inline styles as they
    render), fetches of the OpenAPI document and Swagger UI's "Try it out" to this host only, ReDoc's
    search worker, and no framing (clickjacking of Authorize)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + "'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}".rstrip()
        + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; worker-src 'self' blob:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


def _guarded(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = content_security_policy(bytes(page.body))
    return page


@cache
def _offline_redoc_bundle() -> bytes:
    bundle = (ASSETS / REDOC_JS).read_text(encoding="utf-8")
    return bundle.replace(REDOC_CDN_LOGO, f"{ASSETS_URL}/favicon.png").encode("utf-8")


def install_docs(app: FastAPI) -> None:
    title = app.title

    # Before the mount, so that this route answers for the bundle instead of the file as shipped.
    @app.get(f"{ASSETS_URL}/{REDOC_JS}", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(
            _offline_redoc_bundle(),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _guarded(
            get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{title} — Swagger UI",
                oauth2_redirect_url="/docs/oauth2-redirect",
                swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
                # validatorUrl: no badge fetched from the public validator.
                swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
            )
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _guarded(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _guarded(
            get_redoc_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{title} — ReDoc",
                redoc_js_url=f"{ASSETS_URL}/{REDOC_JS}",
                redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
