"""GET /passkeys: shop's own page that adds a passkey and signs in with one (Swagger UI cannot call
WebAuthn). Its script and style are fixed files, inlined and allowed by their SHA-256 in the
Content-Security-Policy (no nonce to draw, nothing from elsewhere); the texts travel as data
attributes, in the language of Accept-Language. The script talks to this origin's API only, and
keeps its tokens in memory."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shop.localization import public as localization

router = APIRouter(include_in_schema=False)

PAGES = Path(__file__).resolve().parents[1] / "templates" / "pages"
API = "/api/v1/auth"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _assets() -> tuple[Template, str, str, dict[str, dict[str, Any]]]:
    template = Template((PAGES / "passkeys.html").read_text(encoding="utf-8"))
    script = (PAGES / "passkeys.js").read_text(encoding="utf-8")
    style = (PAGES / "page.css").read_text(encoding="utf-8")  # the style of every page of shop
    texts: dict[str, dict[str, Any]] = json.loads((PAGES / "passkeys.json").read_text(encoding="utf-8"))
    return template, script, style, texts


@cache
def content_security_policy() -> str:
    _, script, style, _ = _assets()
    return (
        "default-src 'none'; "
        f"script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


@router.get("/passkeys", response_class=HTMLResponse)
async def passkeys_page(request: Request) -> HTMLResponse:
    """Add a passkey (email and password, then the device) and sign in with one (no email typed)."""
    template, script, style, texts = _assets()
    language = localization.negotiate_language(request.headers.get("accept-language"), set(texts))
    text = texts[language]
    values = {key: html.escape(value) for key, value in text.items() if isinstance(value, str)}
    page = template.substitute(
        values,
        lang=language,
        api=API,
        texts=html.escape(json.dumps(text["js"], ensure_ascii=False)),
        script=script,
        style=style,
    )
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": content_security_policy(),
            "Cache-Control": "no-store",
            "Content-Language": language,
            "Vary": "Accept-Language",
        },
    )
