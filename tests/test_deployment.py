"""The container files: compose parses, and the environment it sets is what Settings reads."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import yaml

from shop.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def test_compose_wires_the_stack() -> None:
    services = compose()["services"]
    assert set(services) == {"app", "postgres", "redis", "mailpit"}
    assert services["postgres"]["image"] == "postgres:17"
    assert services["mailpit"]["image"] == "axllent/mailpit"
    env = services["app"]["environment"]
    assert (
        env["DATABASE_URL"].startswith("postgresql+asyncpg://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["SMTP_HOST"] == "mailpit"


def test_compose_environment_is_valid_settings() -> None:
    env = dict(compose()["services"]["app"]["environment"])
    # compose insists on a key from the caller's environment (`${JWT_SECRET_KEY:?…}`): give it one.
    assert re.fullmatch(r"\$\{JWT_SECRET_KEY:\?[^}]+\}", env["JWT_SECRET_KEY"])
    env["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)
    known = {name.upper() for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    settings = Settings(_env_file=None, **{key.lower(): value for key, value in env.items()})  # type: ignore[arg-type]
    assert settings.environment == "production" and settings.smtp_port == 1025
    assert settings.smtp_tls == "none" and settings.smtp_username is None  # mailpit: no login


def test_dockerfile_runs_shop_serve_as_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim AS build$", text, re.M)
    assert re.search(r"^USER shop$", text, re.M)
    assert "HEALTHCHECK" in text and "/health/live" in text
    assert '"shop", "serve"' in text


def test_the_image_needs_nothing_beside_the_venv() -> None:
    text = (ROOT / "Dockerfile").read_text()
    runtime = text.split(" AS runtime", 1)[1]
    copies = re.findall(r"^COPY .*$", runtime, re.M)
    assert copies == ["COPY --from=build /opt/venv /opt/venv"]
