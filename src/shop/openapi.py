"""The OpenAPI document, exported to `docs/openapi.json` for generated clients and the linter.

    python -m shop.openapi [FILE]          # write it (default docs/openapi.json); `make openapi`
    python -m shop.openapi --check [FILE]  # exit 1 when FILE differs from what the code describes

The document is built from the code and the defaults alone — no environment variable, `.env` file or
data directory changes it — so every machine exports the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from shop.core.config import Settings

DEFAULT_PATH = Path("docs/openapi.json")
REGENERATE = "make openapi  (or: python -m shop.openapi)"


class _Defaults(Settings):
    """Settings from their defaults and the values given here only: the environment is not read."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def document() -> dict[str, Any]:
    """The app's OpenAPI schema. Building the app connects to nothing and writes nothing."""
    from shop.bootstrap import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        # A placeholder key: no token is ever signed with it.
        settings = _Defaults(
            environment="test", jwt_secret_key="openapi-export-" + "0" * 32, data_dir=data_dir
        )
        return create_app(settings).openapi()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = render(document())
    path: Path = args.path
    if args.check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is stale: regenerate it with `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
