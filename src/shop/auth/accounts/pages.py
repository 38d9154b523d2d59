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
import re
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from shop.auth.accounts.service import RESET, VERIFY
from shop.auth.catalogs import N_
from shop.auth.catalogs import PAGES as CATALOG
from shop.auth.dependencies import AccountServiceDep, EmailChangeServiceDep
from shop.auth.paths import AUTH_PREFIX
from shop.core.db import READS_ONLY
from shop.localization import public as localization

router = APIRouter(include_in_schema=False)

PAGES = Path(__file__).parents[1] / "templates" / "pages"
API = AUTH_PREFIX
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


@dataclass(frozen=True, slots=True)
class LinkPage:
    """The messages of one kind of page (catalog `pages`)."""

    title: str
    intro: str
    button: str
    done: str
    used: str


_TEXTS = {
    VERIFY: LinkPage(
        title=N_("Confirm your email address"),
        intro=N_("Press the button to confirm that this address is yours."),
        button=N_("Confirm my email address"),
        done=N_("Your email address is confirmed. You can sign in now."),
        used=N_(
            "This link has already been used. If you used it, your address is confirmed and you can sign in."
        ),
    ),
    RESET: LinkPage(
        title=N_("Choose a new password"),
        intro=N_("Enter the new password twice."),
        button=N_("Set the new password"),
        done=N_("Your password is changed, and every session is signed out. Sign in with your new password."),
        used=N_("This link has already been used. Ask for a new password reset if you still need one."),
    ),
    EMAIL_CHANGE: LinkPage(
        title=N_("Confirm your new email address"),
        intro=N_("Press the button to make this address your account's email address."),
        button=N_("Use this email address"),
        done=N_("Your account's email address is changed. Sign in with the new address from now on."),
        used=N_("This link has already been used. If you used it, the change is made."),
    ),
}
# What a link that cannot be used says, by its state (a used one says its page's `used`).
_REFUSED = {
    "unknown": N_("This link is not valid. Copy the whole link from the email, or ask for a new one."),
    "expired": N_("This link has expired. Ask for a new one."),
}
# The reset form's own messages.
_NEW_PASSWORD = N_("New password")
_AGAIN = N_("New password, again")
_HINT = N_("At least {min} characters; not your email address, not a common password.")
# What the page's script may say after its POST.
_INVALID = N_("This link can no longer be used: it has been used or it has expired. Ask for a new one.")
_FAILED = N_("Something went wrong. Try again in a moment.")
_MISMATCH = N_("The two passwords are not the same.")
_WORKING = N_("One moment…")
_TAKEN = N_(
    "This address now belongs to another account, so the change cannot be made. Ask for a change to another address."
)
_NOSCRIPT = N_("This page needs JavaScript to send your confirmation.")


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


def _render(request: Request, kind: str, token: str, state: str, min_length: int) -> HTMLResponse:
    language = localization.message_language(request.headers.get("accept-language"))
    say = CATALOG.translations(language).gettext
    texts = _TEXTS[kind]
    nonce = secrets.token_urlsafe(18)
    esc = html.escape
    if kind != RESET:
        form = (
            f'<p>{esc(say(texts.intro))}</p>\n<form id="confirm" method="post">'
            f'<button type="submit">{esc(say(texts.button))}</button></form>'
        )
    else:
        form = (
            f'<p>{esc(say(texts.intro))}</p>\n<form id="confirm" method="post">'
            f'<label for="password">{esc(say(_NEW_PASSWORD))}</label>'
            f'<input id="password" name="password" type="password" autocomplete="new-password" required '
            f'minlength="{min_length}" maxlength="128" aria-describedby="hint">'
            f'<p class="hint" id="hint">{esc(say(_HINT).format(min=min_length))}</p>'
            f'<label for="confirm_password">{esc(say(_AGAIN))}</label>'
            f'<input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" '
            f'required minlength="{min_length}" maxlength="128">'
            f'<button type="submit">{esc(say(texts.button))}</button></form>'
        )
    if state == "valid":
        content, status, status_class = form, "", ""
    else:
        content, status_class = "", "error"
        status = say(texts.used if state == "used" else _REFUSED[state])
    page = _template().substitute(
        lang=language,
        nonce=nonce,
        style=_style(),
        kind=kind,
        title=esc(say(texts.title)),
        token=esc(token if state == "valid" else ""),
        endpoint=_ENDPOINTS[kind],
        done=esc(say(texts.done)),
        invalid=esc(say(_INVALID)),
        failed=esc(say(_FAILED)),
        mismatch=esc(say(_MISMATCH)),
        working=esc(say(_WORKING)),
        taken=esc(say(_TAKEN)),
        content=content,
        status=esc(status),
        status_class=status_class,
        noscript=esc(say(_NOSCRIPT)),
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
