"""HTTP endpoints of the auth context: each capability's routes, gathered here (`add_routes`: each
carries its whole path). The most used first: the account (GET /me), then sign-in, then two-step
sign-in."""

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
from shop.core.routing import add_routes

router = APIRouter()
for capability in (accounts, sessions, mfa, passkeys, providers):
    add_routes(router, capability.router)

admin_router = APIRouter()
for capability in (accounts, mfa, keys):
    add_routes(admin_router, capability.admin_router)

keys_router = keys.keys_router

# The pages shop serves at the root: those mail links open, and the passkey page (their routers keep
# them out of the OpenAPI document).
pages_router = APIRouter()
for pages in (account_pages, passkey_pages):
    add_routes(pages_router, pages.router)
