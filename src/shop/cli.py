"""The `shop` command: serve, migrate, create-admin, mfa-off, keys, backup, restore, import-rates,
webhooks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from shop.core.config import Settings, get_settings, pass_to_workers, public_url_for_port
from shop.core.embedded import EmbeddedPostgres, EmbeddedPostgresError
from shop.core.logging import configure_logging
from shop.core.memory import share_one_arena


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"shop: {message}", file=sys.stderr)
    raise SystemExit(code)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "configuration"
            problems.append(f"{name}: {error['msg']}")
        _fail("invalid configuration: " + "; ".join(problems))


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The configured DATABASE_URL, or the embedded server's for as long as the block runs."""
    if settings.database_url:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        url = embedded.start()
    except (EmbeddedPostgresError, OSError) as exc:
        _fail(f"could not start the embedded PostgreSQL under DATA_DIR={settings.data_dir}: {exc}")
    try:
        yield url
    finally:
        embedded.stop()


def _check_data_dir(settings: Settings) -> None:
    """DATA_DIR holds the embedded database, the development signing key and saved mail. When any of
    them is in use, fail now, in one line, if the directory cannot be written (read-only, full, not
    a directory) — not later, with a traceback from deep inside."""
    if settings.database_url and settings.jwt_secret_key is not None and settings.smtp_host:
        return
    probe = settings.data_dir / f".shop-write-check-{os.getpid()}"
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"\0" * 65536)  # a full disk refuses this as well
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        _fail(f"DATA_DIR={settings.data_dir} is not writable: {exc.strerror or exc}")


def _migrate_to(url: str, action: str, revision: str) -> None:
    from shop.core.migrate import DatabaseUnavailable, run_alembic

    try:
        asyncio.run(run_alembic(url, action, revision))
    except DatabaseUnavailable as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot reach the database (DATABASE_URL): {exc}")


def _check_signing_keys(settings: Settings, url: str) -> None:
    """A JWT_SECRET_KEY that cannot open the stored key pairs would fail the first login with a 500
    (and the app's start-up with a traceback): refuse here, before any worker starts, in one line."""
    from shop.auth.commands import check_keys_open
    from shop.bootstrap import run_command

    problem = asyncio.run(run_command(settings, url, lambda shop, db: check_keys_open(shop.settings, db)))
    if problem is not None:
        _fail(problem, code=1)


@contextmanager
def metrics_dir() -> Iterator[str]:
    """The directory where the workers of `shop serve` keep their metrics (prometheus_client's
    multiprocess mode), so that one scrape sees the whole instance: PROMETHEUS_MULTIPROC_DIR when the
    operator gives one (emptied now: files of an earlier run would be counted again), else a new
    temporary directory, removed at exit."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        try:
            path.mkdir(parents=True, exist_ok=True)
            for stale in path.glob("*.db"):
                stale.unlink()
        except OSError as exc:
            _fail(f"PROMETHEUS_MULTIPROC_DIR={given} is not usable: {exc.strerror or exc}")
        yield given
        return
    with _temporary_dir("shop-metrics-") as made:
        yield made


@contextmanager
def _temporary_dir(prefix: str) -> Iterator[str]:
    made = tempfile.mkdtemp(prefix=prefix)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


class _Terminated(BaseException):
    """SIGTERM, as an exception (re-raised by uvicorn once it has shut down gracefully). A
    BaseException, as KeyboardInterrupt is: no `except Exception` on the way may swallow it."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    share_one_arena()  # this process and its workers, before any thread starts
    settings = _settings()
    _check_data_dir(settings)
    workers = args.workers or settings.web_concurrency
    # JSON from the first line on: migrations and uvicorn's start-up speak before the app's lifespan.
    configure_logging(settings.log_level)
    # From here on SIGTERM unwinds through `database_url`, which stops the embedded PostgreSQL,
    # whenever it comes: while it starts, during the migrations, or (uvicorn takes the signal over
    # while it serves, and re-raises it after its graceful shutdown) at the end.
    signal.signal(signal.SIGTERM, _on_sigterm)
    with (
        contextlib.suppress(_Terminated),
        metrics_dir() as metrics,
        _temporary_dir("shop-hashing-") as slots,
        database_url(settings) as url,
    ):
        # Before anything imports prometheus_client (it picks its mode at import).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
        _migrate_to(url, "upgrade", "head")
        _check_signing_keys(settings, url)
        # Workers are separate processes: they find the (possibly embedded) database this way.
        pass_to_workers(
            database_url=url,
            web_concurrency=workers,
            public_url=public_url_for_port(settings, args.port),
            hashing_slots_dir=slots if workers > 1 and not args.reload else None,
        )
        uvicorn.run(
            "shop.main:app",
            host=args.host,
            port=args.port,
            workers=None if args.reload else workers,
            reload=args.reload,
            log_config=None,
            access_log=False,
            proxy_headers=False,  # client addresses come from TRUSTED_PROXIES only
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings()
    with database_url(settings) as url:
        if args.downgrade:
            _migrate_to(url, "downgrade", args.downgrade)
        else:
            _migrate_to(url, "upgrade", args.revision or "head")
    print("migrations applied")


async def _account_command(settings: Settings, url: str, email: str, *, mfa_off: bool) -> str:
    from shop.auth.commands import create_admin, turn_off_mfa
    from shop.bootstrap import run_command

    command = turn_off_mfa if mfa_off else create_admin
    return await run_command(settings, url, lambda shop, db: command(shop.auth, db, email))


def cmd_account(args: argparse.Namespace) -> None:
    settings = _settings()
    with database_url(settings) as url:
        _migrate_to(url, "upgrade", "head")
        print(asyncio.run(_account_command(settings, url, args.email, mfa_off=args.mfa_off)))


def cmd_import_rates(args: argparse.Namespace) -> None:
    from shop.bootstrap import run_command
    from shop.localization.commands import import_ecb_rates, import_rates

    if (args.file is None) == (not args.ecb):
        _fail("give either FILE or --ecb")
    settings = _settings()
    with database_url(settings) as url:
        _migrate_to(url, "upgrade", "head")
        if args.ecb:
            ecb_url = settings.ecb_rates_url
            print(asyncio.run(run_command(settings, url, lambda _, db: import_ecb_rates(db, ecb_url))))
        else:
            print(asyncio.run(run_command(settings, url, lambda _, db: import_rates(db, args.file))))


def cmd_keys(args: argparse.Namespace) -> None:
    from shop.auth.commands import check_keys_kept, list_keys, rotate_keys
    from shop.bootstrap import run_command

    settings = _settings()
    check_keys_kept(settings, rotating=args.action == "rotate")  # HS256: nothing to reach the database for
    if args.new_secret and args.action != "rotate":
        _fail("--new-secret goes with `shop keys rotate` only")
    with database_url(settings) as url:
        _migrate_to(url, "upgrade", "head")
        if args.action == "rotate":
            rotate = lambda shop, db: rotate_keys(shop.settings, db, new_secret=args.new_secret)  # noqa: E731
            print(asyncio.run(run_command(settings, url, rotate)))
            return
        listing, problem = asyncio.run(
            run_command(settings, url, lambda shop, db: list_keys(shop.settings, db))
        )
        print(listing)
    if problem is not None:
        _fail(problem, code=1)


def cmd_backup(args: argparse.Namespace) -> None:
    from shop.core.backup import BackupError, backup, restore

    settings = _settings()
    target = Path(args.file).resolve()
    with database_url(settings) as url:
        try:
            if args.restore:
                restore(url, target)
            else:
                backup(url, target)
        except BackupError as exc:
            _fail(str(exc), code=1)
        if args.restore:
            # A dump of an older shop is brought forward at once.
            _migrate_to(url, "upgrade", "head")
    print(f"restored from {target}" if args.restore else f"backed up to {target}")


def cmd_webhooks(args: argparse.Namespace) -> None:
    from shop.bootstrap import run_command
    from shop.webhooks.commands import CommandFailed, run

    settings = _settings()
    with database_url(settings) as url:
        _migrate_to(url, "upgrade", "head")
        try:
            print(
                asyncio.run(
                    run_command(
                        settings,
                        url,
                        lambda shop, db: run(
                            shop.settings,
                            db,
                            args.action,
                            args.target,
                            events=args.events,
                            description=args.description,
                        ),
                    )
                )
            )
        except CommandFailed as error:
            _fail(str(error), code=1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply pending migrations, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None, help="default: WEB_CONCURRENCY")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply (or revert) database migrations")
    migrate.add_argument("revision", nargs="?", default=None, help="target revision (default: head)")
    migrate.add_argument("--downgrade", metavar="REVISION", help="revert down to REVISION")
    migrate.set_defaults(handler=cmd_migrate)

    admin = commands.add_parser("create-admin", help="make EMAIL a verified admin")
    admin.add_argument("email")
    admin.set_defaults(handler=cmd_account, mfa_off=False)

    mfa_off = commands.add_parser(
        "mfa-off", help="turn off EMAIL's two-step sign-in (a lost device; audited, the user is mailed)"
    )
    mfa_off.add_argument("email")
    mfa_off.set_defaults(handler=cmd_account, mfa_off=True)

    keys = commands.add_parser("keys", help="the signing keys of access tokens: list, or rotate")
    keys.add_argument("action", choices=["list", "rotate"])
    keys.add_argument(
        "--new-secret",
        action="store_true",
        help="rotate although the stored keys were sealed under another JWT_SECRET_KEY (changing it on "
        "purpose): a new key signs, tokens signed before stay valid until they expire",
    )
    keys.set_defaults(handler=cmd_keys)

    webhooks = commands.add_parser(
        "webhooks", help="the endpoints that receive events: list, add URL, remove ID, test ID"
    )
    webhooks.add_argument("action", choices=["list", "add", "remove", "test"])
    webhooks.add_argument(
        "target", nargs="?", default=None, help="add: the URL; remove, test: the endpoint's id"
    )
    webhooks.add_argument("--events", default="*", help="add: comma-separated event types (default: *, all)")
    webhooks.add_argument("--description", default=None, help="add: what the endpoint is for")
    webhooks.set_defaults(handler=cmd_webhooks)

    backup = commands.add_parser(
        "backup", help="the whole database into FILE (pg_dump's custom format); works while shop serve runs"
    )
    backup.add_argument("file")
    backup.set_defaults(handler=cmd_backup, restore=False)
    restore = commands.add_parser(
        "restore", help="FILE (a `shop backup`) back into the database; stop shop serve first"
    )
    restore.add_argument("file")
    restore.set_defaults(handler=cmd_backup, restore=True)

    rates = commands.add_parser("import-rates", help="load ECB reference-rate XML (a file, or --ecb)")
    rates.add_argument("file", nargs="?", help="an eurofxref XML file (daily or historical)")
    rates.add_argument("--ecb", action="store_true", help="fetch the ECB's daily file from ECB_RATES_URL")
    rates.set_defaults(handler=cmd_import_rates)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.handler
    try:
        handler(args)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
