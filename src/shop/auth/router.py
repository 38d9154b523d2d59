"""HTTP endpoints of the auth context: each capability's router, included here. The most used first
(FastAPI tries every route in turn): the account (GET /me), then sign-in, then two-step sign-in."""

from __future__ import annotations

from fastapi import APIRouter

from shop.auth.accounts import pages as account_pages
from shop.auth.accounts import router as accounts
from shop.auth.keys import router as keys
from shop.auth.mfa import router as mfa
from shop.auth.passkeys import pages as passkey_pages
from shop.auth.passkeys import router as passkeys
from shop.auth.providers import router as providers
from shop.auth.sessions import router as sessions

router = APIRouter()
for capability in (accounts, sessions, mfa, passkeys, providers):
    router.include_router(capability.router)

admin_router = APIRouter()
for capability in (accounts, mfa, keys):
    admin_router.include_router(capability.admin_router)

keys_router = keys.keys_router

# The pages shop serves at the root: those mail links open, and the passkey page.
pages_router = APIRouter(include_in_schema=False)
for pages in (account_pages, passkey_pages):
    pages_router.include_router(pages.router)
