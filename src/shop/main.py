"""The ASGI app: `shop.main:app`. create_app() wires the kernel and the three contexts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncSession

from shop import __version__
from shop.auth import public as auth_public
from shop.auth.router import admin_router as auth_admin_router
from shop.auth.router import router as auth_router
from shop.core.config import Settings, get_settings
from shop.core.db import Database
from shop.core.docs import install_docs
from shop.core.embedded import EmbeddedPostgres
from shop.core.errors import install_error_handlers
from shop.core.events import bus
from shop.core.health import router as health_router
from shop.core.logging import configure_logging
from shop.core.mail import MailSender
from shop.core.middleware import RequestContextMiddleware
from shop.core.openapi import Links, install_openapi
from shop.core.ratelimit import RateLimiter
from shop.core.security import TokenCodec
from shop.localization.router import router as localization_router
from shop.users import public as users_public
from shop.users.router import router as users_router

API_PREFIX = "/api/v1"

DESCRIPTION = """
The backend foundation of a global e-commerce platform: sign-up and sign-in, customer profiles and
addresses, languages, currencies and exchange rates.

Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.
Authenticate with **Authorize** (the OAuth2 password flow signs you in) or paste an access token.
"""


async def _create_profile(session: AsyncSession, event: auth_public.UserRegistered) -> None:
    await users_public.create_profile(session, event.user_id, event.accept_language)


async def _erase_user_data(session: AsyncSession, event: auth_public.AccountDeleted) -> None:
    await users_public.erase_user_data(session, event.user_id)


# OpenAPI links: which response value feeds which later request (they cross contexts, so they are
# declared here, where the contexts meet). Generated clients and schemathesis' stateful runs use them.
_SIGNED_IN = {"header.Authorization": "Bearer {$response.body#/access_token}"}
_ADDRESS = {"path.address_id": "$response.body#/id"}


def _as_user(operation_id: str, description: str, **extra: object) -> dict[str, object]:
    return {"operationId": operation_id, "description": description, "parameters": _SIGNED_IN, **extra}


def _token_pair_links(password: str | None) -> dict[str, dict[str, object]]:
    """What a fresh token pair opens: the refresh chain and the signed-in user's own resources."""
    links: dict[str, dict[str, object]] = {
        "refresh": {
            "operationId": "auth_refresh",
            "description": "Rotate the refresh token of this sign-in.",
            "requestBody": {"refresh_token": "$response.body#/refresh_token"},
        },
        "me": _as_user("auth_me", "The signed-in user."),
        "sessions": _as_user("auth_sessions", "The user's sessions."),
        "profile": _as_user("users_get_profile", "The user's profile."),
        "update_profile": _as_user("users_update_profile", "Change the user's profile."),
        "addresses": _as_user("users_list_addresses", "The user's addresses."),
        "add_address": _as_user("users_create_address", "Add an address for the user."),
        "logout": _as_user("auth_logout", "End this session."),
    }
    if password is not None:
        links["delete_account"] = _as_user(
            "auth_delete_me", "Delete the account.", requestBody={"password": password}
        )
    return links


def _address_links(description: str) -> dict[str, dict[str, object]]:
    return {
        "get": {"operationId": "users_get_address", "description": description, "parameters": _ADDRESS},
        "replace": {
            "operationId": "users_replace_address",
            "description": description,
            "parameters": _ADDRESS,
        },
        "update": {"operationId": "users_update_address", "description": description, "parameters": _ADDRESS},
        "make_primary": {
            "operationId": "users_make_address_primary",
            "description": description,
            "parameters": _ADDRESS,
        },
        "delete": {"operationId": "users_delete_address", "description": description, "parameters": _ADDRESS},
    }


LINKS: Links = {
    "auth_register": {
        "201": {
            "login": {
                "operationId": "auth_login",
                "description": "Sign in with the new account (once its email is verified).",
                "requestBody": {"email": "$request.body#/email", "password": "$request.body#/password"},
            },
            "resend_verification": {
                "operationId": "auth_resend_verification",
                "description": "Ask for the verification mail again.",
                "requestBody": {"email": "$request.body#/email"},
            },
        }
    },
    "auth_login": {"200": _token_pair_links("$request.body#/password")},
    "auth_refresh": {"200": _token_pair_links(None)},
    "auth_sessions": {
        "200": {
            "revoke": {
                "operationId": "auth_revoke_session",
                "description": "Revoke the first listed session.",
                "parameters": {"path.session_id": "$response.body#/0/id"},
            }
        }
    },
    "users_create_address": {"201": _address_links("The address just added.")},
    "users_make_address_primary": {"200": _address_links("The new primary address.")},
    "localization_add_exchange_rate": {
        "201": {
            "get": {
                "operationId": "localization_get_exchange_rate",
                "description": "The rate of the pair just stored.",
                "parameters": {"path.from": "$response.body#/from", "path.to": "$response.body#/to"},
            }
        }
    },
}


def wire_contexts() -> None:
    """Contexts meet here: auth's events reach the users context without auth importing it back."""
    bus.subscribe(auth_public.UserRegistered, _create_profile)
    bus.subscribe(auth_public.AccountDeleted, _erase_user_data)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    run_mail_sender: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    wire_contexts()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.environment != "test":
            configure_logging(settings.log_level)
        embedded: EmbeddedPostgres | None = None
        db = database
        if db is None:
            url = settings.database_url
            if url is None:
                embedded = EmbeddedPostgres(settings.data_dir)
                url = embedded.start()
            db = Database.from_url(url, pool_size=settings.db_pool_size)
        app.state.database = db
        app.state.redis = None
        if settings.redis_url:
            from redis.asyncio import Redis

            app.state.redis = Redis.from_url(settings.redis_url)
        sender = MailSender(settings, db)
        if run_mail_sender:
            sender.start()
        app.state.mail_sender = sender
        try:
            yield
        finally:
            await sender.stop()
            if app.state.redis is not None:
                await app.state.redis.aclose()
            if database is None:
                await db.dispose()
            if embedded is not None:
                embedded.stop()

    app = FastAPI(
        title="shop",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.token_codec = TokenCodec(settings)
    app.state.rate_limiter = RateLimiter(settings)
    app.state.session_validator = auth_public.validate_session

    install_error_handlers(app)
    install_openapi(app, LINKS)
    install_docs(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware)

    app.include_router(health_router)
    app.include_router(auth_router, prefix=f"{API_PREFIX}/auth")
    app.include_router(auth_admin_router, prefix=f"{API_PREFIX}/admin")
    app.include_router(users_router, prefix=API_PREFIX)
    app.include_router(localization_router, prefix=API_PREFIX)
    return app


def __getattr__(name: str) -> FastAPI:
    # `shop.main:app` is built on first access, so importing this module reads no configuration.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
