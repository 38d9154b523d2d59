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

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shop.auth.catalogs import N_
from shop.auth.catalogs import PAGES as CATALOG
from shop.auth.paths import AUTH_PREFIX
from shop.localization import public as localization

router = APIRouter(include_in_schema=False)

PAGES = Path(__file__).resolve().parents[1] / "templates" / "pages"
API = AUTH_PREFIX
# The page's messages (catalog `pages`), by the template's placeholder.
_TEXTS = {
    "title": N_("Passkeys"),
    "sign_in_title": N_("Sign in with a passkey"),
    "sign_in_intro": N_(
        "No email or password to type: your device offers the passkeys it holds for this site."
    ),
    "sign_in_button": N_("Sign in with a passkey"),
    "add_title": N_("Add a passkey"),
    "add_intro": N_(
        "Confirm your account with its password, then let your device make a passkey (fingerprint, face, PIN or security key)."
    ),
    "email": N_("Email"),
    "password": N_("Password"),
    "name": N_("Name of the passkey"),
    "add_button": N_("Add a passkey"),
    "signed_in_as": N_("Signed in as"),
    "sign_out_button": N_("Sign out"),
    "noscript": N_("This page needs JavaScript to talk to your passkey."),
}
# What its script says, by name (they travel as the JSON of `data-texts`).
_SCRIPT_TEXTS = {
    "working": N_("One moment…"),
    "added": N_("Your passkey is added. Sign out, then sign in with it."),
    "signed_in": N_("Signed in with your passkey."),
    "signed_out": N_("Signed out."),
    "refused": N_("This passkey was not accepted."),
    "cancelled": N_("The passkey step was cancelled or timed out."),
    "unsupported": N_("This browser cannot use passkeys."),
    "failed": N_("Something went wrong. Try again in a moment."),
}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _assets() -> tuple[Template, str, str]:
    template = Template((PAGES / "passkeys.html").read_text(encoding="utf-8"))
    script = (PAGES / "passkeys.js").read_text(encoding="utf-8")
    style = (PAGES / "page.css").read_text(encoding="utf-8")  # the style of every page of shop
    return template, script, style


@cache
def content_security_policy() -> str:
    _, script, style = _assets()
    return (
        "default-src 'none'; "
        f"script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


@router.get("/passkeys", response_class=HTMLResponse)
async def passkeys_page(request: Request) -> HTMLResponse:
    """Add a passkey (email and password, then the device) and sign in with one (no email typed)."""
    template, script, style = _assets()
    language = localization.message_language(request.headers.get("accept-language"))
    say = CATALOG.translations(language).gettext
    page = template.substitute(
        {key: html.escape(say(message)) for key, message in _TEXTS.items()},
        lang=language,
        api=API,
        texts=html.escape(
            json.dumps({key: say(message) for key, message in _SCRIPT_TEXTS.items()}, ensure_ascii=False)
        ),
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
