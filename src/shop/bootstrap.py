"""The one place that builds shop: `bootstrap()` makes every collaborator and every event
subscription, written out below; `create_app()` puts them into a FastAPI app. The CLI calls
`bootstrap()` too, so a command behaves as the API does (a new admin gets a profile, as at sign-up).

To add a collaborator: build it in `bootstrap()`, give it a field on `Shop`, and hand it to whatever
needs it (a context's tools, or `app.state` in `create_app()` for a dependency to read).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncSession

from shop import __version__
from shop.auth import public as auth_public
from shop.auth.keys.maintenance import SigningKeyMaintenance
from shop.auth.keys.tokens import AccessTokens
from shop.auth.mfa.codes import MfaKeys
from shop.auth.passwords import PasswordHasher
from shop.auth.paths import AUTH_PREFIX
from shop.auth.providers.oidc import OidcProviders
from shop.auth.router import admin_router as auth_admin_router
from shop.auth.router import keys_router
from shop.auth.router import pages_router as auth_pages_router
from shop.auth.router import router as auth_router
from shop.auth.tools import AuthTools
from shop.auth.upkeep import AuthUpkeep
from shop.core.caching import FrontAnswers
from shop.core.collector import settle_for_serving
from shop.core.config import Settings, get_settings
from shop.core.db import Database
from shop.core.docs import install_docs
from shop.core.embedded import EmbeddedPostgres
from shop.core.events import EventBus
from shop.core.health import router as health_router
from shop.core.load import RequestLoad
from shop.core.logging import configure_logging
from shop.core.mail.sender import MailSender
from shop.core.metrics import MULTIPROCESS, ProcessMetricsLoop, worker_exited
from shop.core.middleware import RequestContextMiddleware, RequestGuardMiddleware
from shop.core.openapi import install_openapi
from shop.core.problems import install_error_handlers
from shop.core.ratelimit import RateLimiter
from shop.core.routing import API_PREFIX, add_routes, install_path_index
from shop.core.security import BearerGuard, install_guard
from shop.core.tracing import install_tracing, name_request, shutdown_tracing
from shop.links import LINKS
from shop.localization import public as localization_public
from shop.localization.router import reference_router as localization_reference_router
from shop.localization.router import router as localization_router
from shop.localization.upkeep import RatesUpkeep
from shop.users import public as users_public
from shop.users.router import router as users_router
from shop.webhooks import subscriptions as webhooks
from shop.webhooks.dispatcher import WebhookDispatcher
from shop.webhooks.router import router as webhooks_router

# Tokens and personal data: answers under these must not rest in any cache.
NO_STORE_PREFIXES = tuple(f"{API_PREFIX}/{part}" for part in ("auth", "admin", "profile", "addresses"))

DESCRIPTION = """
The backend foundation of a global e-commerce platform: sign-up and sign-in, customer profiles and
addresses, languages, currencies and exchange rates.

Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.
Authenticate with **Authorize** (the OAuth2 password flow signs you in) or paste an access token.
"""


# Every tag an operation may carry, described (the document lists those in use; a test checks that
# none is missing).
TAGS = [
    {
        "name": "auth",
        "description": "Accounts and sign-in: registration, email verification, login and the OAuth2 "
        "password flow, two-step sign-in, token refresh, sessions, password reset and change, email "
        "change and the personal-data export.",
    },
    {
        "name": "users",
        "description": "The signed-in customer's own profile (names, phone, language, currency) and "
        "addresses (up to 20, one primary per use).",
    },
    {
        "name": "localization",
        "description": "Languages, currencies, exchange rates and money conversion. Reads are public "
        "and cacheable.",
    },
    {
        "name": "admin",
        "description": "Administration: users, exchange rates, currencies and languages. Needs a "
        "token of an admin (and a second step when ADMIN_MFA_REQUIRED is on).",
    },
    {
        "name": "keys",
        "description": "For other services that verify shop's access tokens: the public keys (JWKS), "
        "the RFC 8414 metadata, and (admin) the signing keys and their rotation.",
    },
    {
        "name": "webhooks",
        "description": "Events for other services (admin): the endpoints that receive them as "
        "Standard Webhooks messages, their secrets and their deliveries.",
    },
    {
        "name": "operations",
        "description": "For operators and orchestrators: liveness, readiness and Prometheus metrics, "
        "at the root outside /api/v1.",
    },
]
# Relative: the document is served by the shop it describes, wherever that runs.
SERVERS = [{"url": "/", "description": "This shop (the host that serves this document)"}]
LICENSE = {"name": "MIT", "identifier": "MIT"}


@dataclass(frozen=True, slots=True)
class Shop:
    """Every per-process collaborator. Nothing here touches the network when it is built."""

    settings: Settings
    events: EventBus
    limiter: RateLimiter
    auth: AuthTools
    guard: BearerGuard
    # Requests under way in this process: background work yields to them.
    load: RequestLoad
    # OpenID Connect providers: built from the settings, their metadata read at the first sign-in.
    providers: OidcProviders


async def _create_profile(session: AsyncSession, event: auth_public.UserRegistered) -> None:
    await users_public.create_profile(
        session,
        event.user_id,
        event.accept_language,
        locale=event.locale,
        first_name=event.first_name,
        last_name=event.last_name,
    )


async def _erase_user_data(session: AsyncSession, event: auth_public.AccountDeleted) -> None:
    await users_public.erase_user_data(session, event.user_id)


T = TypeVar("T")


@asynccontextmanager
async def small_database(url: str) -> AsyncIterator[Database]:
    """A database of two connections for a command or a check, disposed of when done."""
    database = Database.from_url(url, pool_size=2)
    try:
        yield database
    finally:
        await database.dispose()


async def run_command(settings: Settings, url: str, command: Callable[[Shop, Database], Awaitable[T]]) -> T:
    """A command line command, wired as the app is (`bootstrap`: a new account gets its profile, the
    same events and tools) over a small database at `url`."""
    shop = bootstrap(settings)
    async with small_database(url) as database:
        return await command(shop, database)


def bootstrap(
    settings: Settings,
    *,
    hasher: PasswordHasher | None = None,
    clock: Callable[[], float] | None = None,
) -> Shop:
    """Build shop's collaborators. `hasher`, `clock`: stand-ins for tests (counting password checks;
    moving the time TOTP codes are checked at)."""
    # Contexts meet here: auth's events reach the users context without auth importing it back.
    events = EventBus()
    events.subscribe(auth_public.UserRegistered, _create_profile)
    events.subscribe(auth_public.AccountDeleted, _erase_user_data)
    # Webhooks listen to every context's public events; nobody else knows they exist.
    webhooks.subscribe(events)

    limiter = RateLimiter(settings)
    tokens = AccessTokens.from_settings(settings)
    auth = AuthTools(
        settings=settings,
        hasher=hasher or PasswordHasher(settings),
        tokens=tokens,
        limiter=limiter,
        events=events,
        mfa_keys=MfaKeys.from_root(settings.signing_key()),
        clock=clock or time.time,
    )
    # The kernel's bearer guard verifies through auth: its tokens, its sessions.
    guard = BearerGuard(
        tokens=tokens,
        sessions=auth_public.SessionCheck(settings.session_max_lifetime_seconds),
        policy=auth_public.guard_policy(settings, AUTH_PREFIX),
    )
    return Shop(
        settings=settings,
        events=events,
        limiter=limiter,
        auth=auth,
        guard=guard,
        load=RequestLoad(),
        providers=OidcProviders(settings),
    )


@asynccontextmanager
async def _background_work(shop: Shop, database: Database, *, run: bool) -> AsyncIterator[None]:
    """The mail sender, the webhook dispatcher, auth's upkeep (asks for mailed links, the purge of
    ended sessions), the signing keys' upkeep and the rates' upkeep (the newest rate's age, the daily
    ECB import), for as long as the app runs. `run=False` (tests bound to one connection) starts no
    background task; the signing keys are still made on first start."""
    sender = MailSender(shop.settings, database)
    dispatcher = WebhookDispatcher(shop.settings, database, shop.load)
    upkeep = AuthUpkeep(database, shop.auth)
    keys = SigningKeyMaintenance(shop.settings, database, shop.auth.tokens)
    process_metrics = ProcessMetricsLoop()
    rates = RatesUpkeep(shop.settings, database)
    await keys.ensure_keys()  # first start: the key pairs exist before the first token
    if run:
        sender.start()
        dispatcher.start()
        upkeep.start()
        keys.start()
        if MULTIPROCESS:  # the workers of `shop serve`
            process_metrics.start()
        rates.start()
    try:
        yield
    finally:
        await rates.stop()
        await process_metrics.stop()
        await keys.stop()
        await upkeep.stop()
        await dispatcher.stop()
        await sender.stop()
        worker_exited()


def _install_middleware(app: FastAPI, settings: Settings, load: RequestLoad, *, traced: bool) -> None:
    """Last added runs first: the request context (the load, the request id, the security headers,
    metrics and the log line) wraps everything, so a 413 or a 500 carries it too; CORS, when
    configured, wraps the request guard (the shutdown's cut-off, the body limit, the control
    characters), so a browser can read its 413, 422 and 503, and answers what a route left with
    the app's `FrontAnswers` before routing. Two layers of shop's own: each layer costs about as
    much as the framework's work on the lightest routes."""
    app.state.front_answers = FrontAnswers()
    app.add_middleware(
        RequestGuardMiddleware,
        limit=settings.max_body_bytes,
        path_templates=lambda: app.openapi()["paths"],
        answers=app.state.front_answers,
    )
    _install_cors(app, settings)
    app.add_middleware(
        RequestContextMiddleware,
        no_store_prefixes=NO_STORE_PREFIXES,
        name_request=name_request if traced else None,
        load=load,
    )


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    run_background_loops: bool = True,
    shop: Shop | None = None,
) -> FastAPI:
    """The ASGI app. Building it reads settings and connects to nothing: the database (embedded or
    not), Redis and the mail sender start with the app's lifespan."""
    shop = shop or bootstrap(settings or get_settings())
    settings = shop.settings

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
        if settings.environment != "test":
            settle_for_serving()
        try:
            async with _background_work(shop, db, run=run_background_loops):
                yield
        finally:
            if app.state.redis is not None:
                await app.state.redis.aclose()
            if database is None:
                await db.dispose()
            if embedded is not None:
                embedded.stop()
            shutdown_tracing()

    app = FastAPI(
        # FastAPI's own OpenTelemetry is off: shop instruments itself (`shop.core.tracing`, only when
        # an exporter is configured), and FastAPI's would look for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="shop",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
        servers=SERVERS,
        license_info=LICENSE,
    )
    app.state.settings = settings
    app.state.rate_limiter = shop.limiter
    app.state.auth = shop.auth
    app.state.events = shop.events
    app.state.oidc_providers = shop.providers
    install_guard(app, shop.guard)

    install_error_handlers(app, translate=localization_public.problem_text)
    install_openapi(app, LINKS)
    # Only with OTEL_EXPORTER_OTLP_ENDPOINT set; else OpenTelemetry is not even imported.
    traced = install_tracing(app)
    _install_middleware(app, settings, shop.load, traced=traced)

    _include_routers(app)
    # Behind the API: a path with parameters is tried against every route before its own, and the
    # pages of the docs are asked for rarely.
    install_docs(app)
    install_path_index(app)
    return app


def _install_cors(app: FastAPI, settings: Settings) -> None:
    if not settings.cors_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        # Credentials (cookies) only in the SPA cookie mode: bearer tokens need none.
        allow_credentials=settings.refresh_cookie,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"]
        + (["X-CSRF-Token"] if settings.refresh_cookie else []),
        expose_headers=["X-Request-ID", "Retry-After"],
    )


def _include_routers(app: FastAPI) -> None:
    """Every route on the app itself, each router's in turn (`add_routes`; FastAPI's `include_router`
    would keep a level per router, matched route by route twice); `PathIndex`, installed last before
    them all, finds a fixed path by one lookup. Paths with parameters are still tried route by route, so
    the busiest come first: every storefront page reads the profile, the addresses, the account and
    the reference data. The order of the paths in the OpenAPI document follows; its tags keep their
    own order (TAGS)."""
    for router in (
        health_router,
        # The routes answered from memory (reference data, /money/format, the JWKS).
        localization_reference_router,
        keys_router,
        users_router,
        auth_router,
        localization_router,
        auth_admin_router,
        webhooks_router,
        auth_pages_router,  # the pages mail links open, at the root
    ):
        add_routes(app.router, router)
