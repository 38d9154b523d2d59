"""The lock files: every install (`make run`, `make test`, the image, CI) is from hashed pins that
`make lock` writes from pyproject.toml; serving installs no dev tool."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text(encoding="utf-8")
    return {_name(name): version for name, version in PIN.findall(text)}


def project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]  # type: ignore[no-any-return]


def test_every_pin_has_hashes() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock", "requirements-tools.lock"):
        text = (ROOT / lock).read_text(encoding="utf-8")
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        for block in blocks:
            if PIN.match(block):
                assert "--hash=sha256:" in block, (lock, block.splitlines()[0])


def test_the_locks_hold_what_pyproject_asks_with_the_same_pins() -> None:
    serve, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    runtime = {_name(r) for r in project()["dependencies"]}  # type: ignore[attr-defined]
    dev_extra = {_name(r) for r in project()["optional-dependencies"]["dev"]}  # type: ignore[index]
    assert runtime <= set(serve), f"run `make lock`: {sorted(runtime - set(serve))} missing"
    assert runtime | dev_extra <= set(dev), f"run `make lock`: {sorted((runtime | dev_extra) - set(dev))}"
    assert {name: dev[name] for name in serve} == serve  # one resolution: serving's pins are the dev pins
    # Serving installs none of the dev tools (pyyaml is uvicorn's too).
    tools = {
        "pytest",
        "pytest-xdist",
        "mypy",
        "ruff",
        "playwright",
        "schemathesis",
        "aiosmtpd",
        "import-linter",
    }
    assert tools <= dev_extra
    assert not tools & set(serve), sorted(tools & set(serve))


def test_every_install_is_from_a_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run: \$\(SERVE_INSTALLED\)", makefile, re.M)
    assert "--require-hashes --no-deps -r" in makefile
    assert "$(UV_SYNC) $(LOCK)" in makefile and "$(UV_SYNC) $(DEV_LOCK)" in makefile
    assert "--require-hashes --no-deps -r $(TOOLS_LOCK)" in makefile
    assert re.search(r"^lock:", makefile, re.M)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "pip install --quiet --no-deps ." in dockerfile
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make install" in ci  # the dev lock
