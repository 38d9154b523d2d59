"""The pages that mail links open: `/verify-email?token=`, `/reset-password?token=` and
`/confirm-email-change?token=`.

They exist so that the links work when PUBLIC_URL is shop itself (the default); an operator whose SPA
owns these paths points PUBLIC_URL at it and these pages are never reached. A GET only looks at the
token (mail scanners follow links); the page's button POSTs to the API, which spends it. The pages
load nothing from anywhere, and their Content-Security-Policy says so: the one inline style and
script run by a nonce drawn for each answer, and scripts may talk to this origin only.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from functools import cache
from pathlib import Path
from string import Template
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from shop.auth.accounts.service import RESET, VERIFY
from shop.auth.dependencies import AccountServiceDep, EmailChangeServiceDep
from shop.core.db import READS_ONLY
from shop.localization import public as localization

router = APIRouter(include_in_schema=False)

PAGES = Path(__file__).parents[1] / "templates" / "pages"
API = "/api/v1/auth"
# What new_token() makes (token_urlsafe): anything else is not worth a database look-up.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_STATUS = {"valid": 200, "unknown": 404, "used": 410, "expired": 410}
EMAIL_CHANGE = "email_change"
# Where each page's button POSTs the token (the reset page's form too).
_ENDPOINTS = {
    VERIFY: f"{API}/verify-email",
    RESET: f"{API}/password-reset",
    EMAIL_CHANGE: f"{API}/email-change/confirm",
}


@cache
def _texts() -> dict[str, dict[str, str]]:
    texts: dict[str, dict[str, str]] = json.loads((PAGES / "texts.json").read_text(encoding="utf-8"))
    return texts


@cache
def _template() -> Template:
    return Template((PAGES / "page.html").read_text(encoding="utf-8"))


@cache
def _style() -> str:
    """The stylesheet every page of shop shares (the passkeys page too)."""
    return (PAGES / "page.css").read_text(encoding="utf-8")


def content_security_policy(nonce: str) -> str:
    return (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def _language(request: Request) -> str:
    return localization.negotiate_language(request.headers.get("accept-language"), set(_texts()))


def _render(request: Request, kind: str, token: str, state: str, min_length: int) -> HTMLResponse:
    language = _language(request)
    text = _texts()[language]
    nonce = secrets.token_urlsafe(18)
    esc = html.escape
    if kind != RESET:
        title, endpoint = text[f"{kind}_title"], _ENDPOINTS[kind]
        form = (
            f'<p>{esc(text[f"{kind}_intro"])}</p>\n<form id="confirm" method="post">'
            f'<button type="submit">{esc(text[f"{kind}_button"])}</button></form>'
        )
    else:
        title, endpoint = text["reset_title"], _ENDPOINTS[RESET]
        hint = Template(text["reset_hint"]).substitute(min=min_length)
        form = (
            f'<p>{esc(text["reset_intro"])}</p>\n<form id="confirm" method="post">'
            f'<label for="password">{esc(text["reset_password"])}</label>'
            f'<input id="password" name="password" type="password" autocomplete="new-password" required '
            f'minlength="{min_length}" maxlength="128" aria-describedby="hint">'
            f'<p class="hint" id="hint">{esc(hint)}</p>'
            f'<label for="confirm_password">{esc(text["reset_confirm"])}</label>'
            f'<input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" '
            f'required minlength="{min_length}" maxlength="128">'
            f'<button type="submit">{esc(text["reset_button"])}</button></form>'
        )
    if state == "valid":
        content, status, status_class = form, "", ""
    else:
        key = f"{kind}_used" if state == "used" else state
        content, status, status_class = "", text[key], "error"
    page = _template().substitute(
        lang=language,
        nonce=nonce,
        style=_style(),
        kind=kind,
        title=esc(title),
        token=esc(token if state == "valid" else ""),
        endpoint=endpoint,
        done=esc(text[f"{kind}_done"]),
        invalid=esc(text["invalid"]),
        failed=esc(text["failed"]),
        mismatch=esc(text["mismatch"]),
        working=esc(text["working"]),
        taken=esc(text["email_change_taken"]),
        content=content,
        status=esc(status),
        status_class=status_class,
        noscript=esc(text["noscript"]),
    )
    return HTMLResponse(
        page,
        status_code=_STATUS[state],
        headers={
            "Content-Security-Policy": content_security_policy(nonce),
            # The URL holds a live token: keep it out of caches and history-sharing proxies.
            "Cache-Control": "no-store",
            "Content-Language": language,
            "Vary": "Accept-Language",
        },
    )


async def _page(request: Request, service: AccountServiceDep, kind: str, token: str | None) -> HTMLResponse:
    state = "unknown"
    if token is not None and _TOKEN.fullmatch(token):
        state = await service.email_link_state(token, kind)
    return _render(request, kind, token or "", state, request.app.state.settings.password_min_length)


@router.get("/verify-email", response_class=HTMLResponse, dependencies=[READS_ONLY])
async def verify_email_page(
    request: Request, service: AccountServiceDep, token: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    """The verification link of the mail: a button that confirms the address."""
    return await _page(request, service, VERIFY, token)


@router.get("/reset-password", response_class=HTMLResponse, dependencies=[READS_ONLY])
async def reset_password_page(
    request: Request, service: AccountServiceDep, token: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    """The reset link of the mail: a form for the new password."""
    return await _page(request, service, RESET, token)


@router.get("/confirm-email-change", response_class=HTMLResponse, dependencies=[READS_ONLY])
async def confirm_email_change_page(
    request: Request, service: EmailChangeServiceDep, token: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    """The link mailed to a new address: a button that makes it the account's address."""
    state = "unknown"
    if token is not None and _TOKEN.fullmatch(token):
        state = await service.link_state(token)
    min_length = request.app.state.settings.password_min_length
    return _render(request, EMAIL_CHANGE, token or "", state, min_length)
