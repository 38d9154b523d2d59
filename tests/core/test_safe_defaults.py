"""Safe by default: no usable key in shipped configuration, no clear-text SMTP login in production,
no CORS wildcard or credentials unless asked, no dependency version with a published vulnerability."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from pydantic import ValidationError

from shop.core.config import SAMPLE_SECRET_KEYS, Settings
from tests.support.app import AppWith, http_client

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "Vq3kZ8rT1mX5nB7wP2yL9cF4hJ6sD0aG"  # 32 characters, shown nowhere else

# The key compose.yaml fell back to: 47 characters that anyone can read in the repository.
OLD_COMPOSE_KEY = "change-me-to-a-long-random-secret-of-48-chars!!"


def production(**values: Any) -> Settings:
    return Settings(_env_file=None, environment="production", **values)  # type: ignore[call-arg]


def documented_keys() -> set[str]:
    """Every literal JWT_SECRET_KEY value the project shows: README, docs, compose, .env examples."""
    files = [ROOT / "README.md", ROOT / "compose.yaml", ROOT / "Dockerfile"]
    files += sorted((ROOT / "docs").rglob("*.md")) + sorted(ROOT.glob(".env*")) + sorted(ROOT.glob("*.env*"))
    keys: set[str] = set()
    for path in files:
        if not path.is_file():
            continue
        content = path.read_text(encoding="utf-8")
        keys.update(re.findall(r"\$\{JWT_SECRET_KEY:?-([^}]+)\}", content))  # a compose fallback
        for value in re.findall(r"JWT_SECRET_KEY\s*[=:]\s*[\"']?([^\s\"'`|]+)", content):
            if not value.startswith(("$", "?")):  # `$(openssl rand …)`, `${JWT_SECRET_KEY:?…}`
                keys.add(value)
    return keys


def test_production_refuses_the_old_compose_key() -> None:
    with pytest.raises(ValidationError, match="sample key"):
        production(jwt_secret_key=OLD_COMPOSE_KEY)


def test_every_key_shown_in_the_docs_is_refused_in_production() -> None:
    shown = documented_keys()
    assert shown <= SAMPLE_SECRET_KEYS, f"add these to SAMPLE_SECRET_KEYS: {shown - SAMPLE_SECRET_KEYS}"
    for key in SAMPLE_SECRET_KEYS:
        with pytest.raises(ValidationError, match="JWT_SECRET_KEY"):
            production(jwt_secret_key=key)


@pytest.mark.parametrize("key", [None, "", "x" * 31])
def test_production_refuses_missing_and_short_keys(key: str | None) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        production(jwt_secret_key=key)


def test_production_accepts_a_random_key() -> None:
    assert production(jwt_secret_key=GOOD_KEY).signing_key() == GOOD_KEY


def test_compose_has_no_default_key() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert re.search(r"JWT_SECRET_KEY: \$\{JWT_SECRET_KEY:\?[^}]+\}", compose)
    assert not re.search(r"\$\{[A-Z_]*(SECRET|KEY|PASSWORD)[A-Z_]*:?-", compose)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "starttls"),
        ({"SMTP_STARTTLS": "true"}, "starttls"),
        ({"SMTP_STARTTLS": "false"}, "none"),  # the older setting keeps working
        ({"SMTP_TLS": "tls"}, "tls"),
        ({"SMTP_TLS": "none"}, "none"),
        ({"SMTP_TLS": "tls", "SMTP_STARTTLS": "false"}, "tls"),  # SMTP_TLS wins
        ({"SMTP_TLS": "starttls", "SMTP_STARTTLS": "false"}, "starttls"),
        ({"SMTP_TLS": "none", "SMTP_STARTTLS": "true"}, "none"),
    ],
)
def test_smtp_tls_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: str
) -> None:
    for name in ("SMTP_TLS", "SMTP_STARTTLS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert Settings(_env_file=None).smtp_tls == expected  # type: ignore[call-arg]


def test_smtp_tls_refuses_other_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_TLS", "ssl")
    with pytest.raises(ValidationError, match="smtp_tls"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("tls", [{"smtp_tls": "none"}, {"smtp_starttls": False}])
def test_production_refuses_an_smtp_login_in_clear_text(tls: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="SMTP_TLS=none"):
        production(jwt_secret_key=GOOD_KEY, smtp_host="mail", smtp_username="shop", **tls)


def test_clear_text_smtp_without_login_or_outside_production_starts() -> None:
    assert production(jwt_secret_key=GOOD_KEY, smtp_host="mailpit", smtp_tls="none").smtp_tls == "none"
    development = Settings(_env_file=None, smtp_username="shop", smtp_tls="none")  # type: ignore[call-arg]
    assert development.smtp_tls == "none"
    assert production(jwt_secret_key=GOOD_KEY, smtp_username="shop").smtp_tls == "starttls"


@pytest.mark.parametrize("origins", ["*", "https://spa.example, *"])
def test_cors_wildcard_is_refused(origins: str) -> None:
    with pytest.raises(ValidationError, match=r"cors_origins[\s\S]*'\*' is refused"):
        Settings(_env_file=None, cors_origins=origins)  # type: ignore[call-arg]


@pytest.fixture
async def cors_client(app_with: AppWith, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app_with(cors_origins=["https://spa.example"], refresh_cookie=request.param) as app,
        http_client(app) as client,
    ):
        yield client


PREFLIGHT = {
    "Origin": "https://spa.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "Authorization, Content-Type",
}


@pytest.mark.parametrize("cors_client", [False], indirect=True)
async def test_cors_allows_no_credentials_by_default(cors_client: httpx.AsyncClient) -> None:
    preflight = await cors_client.options("/api/v1/auth/login", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://spa.example"
    assert "access-control-allow-credentials" not in preflight.headers
    response = await cors_client.get("/api/v1/currencies", headers={"Origin": "https://spa.example"})
    assert response.headers["access-control-allow-origin"] == "https://spa.example"
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("cors_client", [True], indirect=True)
async def test_cors_allows_credentials_in_cookie_mode(cors_client: httpx.AsyncClient) -> None:
    preflight = await cors_client.options("/api/v1/auth/login", headers=PREFLIGHT)
    assert preflight.headers["access-control-allow-credentials"] == "true"


# Lowest versions without a published vulnerability (advisories in brackets).
FLOORS = {
    "starlette": "0.49.1",  # CVE-2025-62727 (Range header DoS), CVE-2025-54121, CVE-2024-47874
    "python-multipart": "0.0.22",  # CVE-2024-53981 (0.0.18), CVE-2026-24486 (0.0.22)
    "h11": "0.16",  # CVE-2025-43859 (request smuggling)
    "pyjwt": "2.10.1",  # CVE-2024-53861 (issuer check)
    "idna": "3.7",  # CVE-2024-3651
    "certifi": "2024.7.4",  # CVE-2024-39689 (GLOBALTRUST roots)
    "mako": "1.2.2",  # CVE-2022-40023
    "aiosmtpd": "1.4.6",  # CVE-2024-27305, CVE-2024-34083 (test SMTP server)
    "cryptography": "44.0.1",  # CVE-2024-12797 (bundled OpenSSL) and older advisories
}


def declared() -> dict[str, list[Requirement]]:
    """Every declaration of each package: the runtime list and each extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    found: dict[str, list[Requirement]] = {}
    for line in lines:
        requirement = Requirement(line)
        found.setdefault(requirement.name.lower(), []).append(requirement)
    return found


@pytest.mark.parametrize(("name", "floor"), sorted(FLOORS.items()))
def test_dependency_floors_exclude_vulnerable_versions(name: str, floor: str) -> None:
    requirements = declared().get(name)
    assert requirements, f"{name} is not declared in pyproject.toml: add it with a floor"
    for requirement in requirements:
        lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "~=", "==")]
        assert lows and max(lows) >= Version(floor), f"{requirement} admits versions below {floor}"
    assert Version(version(name)) >= Version(floor)
