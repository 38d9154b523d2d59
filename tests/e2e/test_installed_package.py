"""shop as a user installs it: a wheel in a fresh venv, run from an empty directory, without the
checkout (no alembic.ini, no migrations/ beside it, no source tree on sys.path).

Speed without cheating: the venv gets the wheel with `--no-deps`, and its dependencies are the
already installed distributions that the wheel's own Requires-Dist reaches (symlinked into one
directory named by a .pth file). The project's dev tools and its editable install stay invisible, so
a dependency missing from pyproject.toml fails here as it would for a user.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import httpx
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.net import DELIVERY_SECONDS, EXIT_SECONDS, STARTUP_SECONDS, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RATES = ROOT / "tests" / "localization" / "data" / "eurofxref-daily.xml"
PASSWORD = "correct horse battery staple"
LINK = re.compile(r"/verify-email\?token=([A-Za-z0-9_\-]+)")


def build_wheel(into: Path) -> Path:
    """`pip wheel` from a copy of the project files, so the build leaves nothing in the checkout."""
    source = into / "source"
    # Without the checkout's compiled catalogs: the wheel's own build step must make every .mo.
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.mo")
    )
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(into), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = into.glob("shop-*.whl")
    return wheel


def runtime_closure(wheel: Path) -> set[str]:
    """Names of the installed distributions the wheel's Requires-Dist reaches (extras included)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = message_from_bytes(archive.read(name), policy=policy.compat32)
    pending = [(Requirement(line), "") for line in metadata.get_all("Requires-Dist") or []]
    seen: set[tuple[str, str]] = set()  # (distribution, extra)
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate(
            {**default_environment(), "extra": extra}
        ):
            continue  # e.g. the wheel's own `extra == "dev"` tools
        name = canonicalize_name(requirement.name)
        for wanted in {"", *requirement.extras}:
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            try:
                dist = distribution(name)
            except PackageNotFoundError:
                raise AssertionError(f"{name} is not installed in the test venv") from None
            pending += [(Requirement(line), wanted) for line in dist.requires or []]
    return {name for name, _ in seen}


def link_distributions(names: set[str], into: Path) -> None:
    """Symlink each distribution's top-level files (packages, modules, .dist-info) into `into`."""
    into.mkdir()
    for name in names:
        dist = distribution(name)
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        assert tops, f"{name}: no RECORD of its files"
        for top in tops:
            target = into / top
            if not target.exists() and (base / top).exists():
                target.symlink_to(base / top)


@dataclass
class Installed:
    venv: Path
    workdir: Path  # empty at first: DATA_DIR (.data) appears in it
    database_url: str

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "ENVIRONMENT": "development",
            "DATABASE_URL": self.database_url,
            "ARGON2_MEMORY_COST": "1024",
            "ARGON2_TIME_COST": "1",
        }

    def shop(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(self.venv / "bin" / "shop"), *args],
            env=self.env(),
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=EXIT_SECONDS,
            check=False,
        )
        assert result.returncode == 0, f"shop {' '.join(args)}: {result.stdout}{result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("installed")
    wheel = build_wheel(work)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert any(re.fullmatch(r"shop/migrations/versions/[^/]+\.py", n) for n in names)
    # The message catalogs are compiled at build time: every .po has its .mo in the wheel.
    sources = [n for n in names if re.fullmatch(r"shop/.+/locale/[a-z]{2}/LC_MESSAGES/[a-z_]+\.po", n)]
    assert len(sources) >= 7
    assert all(source.removesuffix(".po") + ".mo" in names for source in sources)
    languages = ("en", "es", "zh", "fr", "de", "ja", "pt")
    catalogs = [
        ("localization", "localization"),
        ("localization", "problems"),
        ("auth", "mail"),
        ("auth", "pages"),
    ]
    assert {
        f"shop/{context}/locale/{language}/LC_MESSAGES/{domain}.mo"
        for context, domain in catalogs
        for language in languages
    } <= set(names)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = work / "deps"
    link_distributions(runtime_closure(wheel), deps)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    (site_packages / "shop-test-dependencies.pth").write_text(f"{deps}\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    yield venv


@pytest.fixture
async def installed(installed_venv: Path, server_url: str, tmp_path: Path) -> AsyncIterator[Installed]:
    """The installed shop, an empty working directory and a database of its own."""
    name = f"shop_installed_{secrets.token_hex(4)}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    workdir = tmp_path / "empty"
    workdir.mkdir()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield Installed(installed_venv, workdir, url)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def wait_for_file(folder: Path, pattern: str, timeout: float = DELIVERY_SECONDS) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern)) if folder.exists() else []
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"nothing matching {pattern} under {folder}")


def test_the_installed_package_runs_without_the_checkout(installed: Installed) -> None:
    probe = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import json, sys, shop; print(json.dumps([shop.__file__, sys.path]))"],
        env=installed.env(), cwd=installed.workdir, capture_output=True, text=True, check=True,
    )  # fmt: skip
    module, path = json.loads(probe.stdout)
    assert Path(module).is_relative_to(installed.venv), module
    assert not [entry for entry in path if entry and Path(entry).resolve().is_relative_to(ROOT)], path

    assert "migrations applied" in installed.shop("migrate")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(installed.venv / "bin" / "shop"), "serve", "--port", str(port)],
        env=installed.env(), cwd=installed.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "shop serve did not become ready"
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)

        email = "installed@example.com"
        registered = httpx.post(
            f"{base}/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "confirm_password": PASSWORD},
            headers={"Accept-Language": "de-DE"},
        )
        assert registered.status_code == 201, registered.text
        saved = wait_for_file(installed.workdir / ".data" / "mail", "*.eml")
        mail = message_from_bytes(saved.read_bytes(), policy=policy.default)
        assert mail["To"] == email
        # Written from the wheel's compiled `mail` catalog, in the language asked.
        assert mail["Subject"] == "Bestätigen Sie Ihre E-Mail-Adresse"
        assert isinstance(mail, EmailMessage)
        match = LINK.search(mail.get_content())
        assert match, mail.get_content()
        verified = httpx.post(f"{base}/api/v1/auth/verify-email", json={"token": match.group(1)})
        assert verified.status_code == 200, verified.text
        login = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        me = httpx.get(
            f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
        )
        assert me.status_code == 200 and me.json()["email"] == email
        page = httpx.get(f"{base}/passkeys", headers={"Accept-Language": "ja"})
        assert (
            page.status_code == 200 and '<html lang="ja">' in page.text and "<h1>パスキー</h1>" in page.text
        )

        # The other commands, from the same venv and directory, beside the running server.
        output = installed.shop("create-admin", "admin@example.com", stdin=PASSWORD + "\n")
        assert "admin@example.com" in output and "created" in output
        admin = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "admin@example.com", "password": PASSWORD}
        )
        assert admin.status_code == 200, admin.text
        rates_file = installed.workdir / "rates.xml"
        shutil.copy2(RATES, rates_file)
        installed.shop("import-rates", str(rates_file))
        rate = httpx.get(f"{base}/api/v1/exchange-rates/EUR/USD")
        assert rate.status_code == 200 and rate.json()["source"] == "ECB", rate.text
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=EXIT_SECONDS)
        output = process.stdout.read().decode() if process.stdout else ""
    assert code == 0, output
    assert "Traceback" not in output, output
