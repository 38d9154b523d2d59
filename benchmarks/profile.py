"""Where the time of a request goes: py-spy samples a worker under load; the samples are grouped by
the library of the innermost frame (self time) and summed per shop function (inclusive time)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path

from benchmarks.harness import WORK

GROUPS = (
    ("asyncpg", "(asyncpg/"),
    ("SQLAlchemy", "(sqlalchemy/"),
    ("pydantic", "(pydantic"),
    ("FastAPI", "(fastapi/"),
    ("Starlette", "(starlette/"),
    ("uvicorn, httptools, uvloop", "(uvicorn/"),
    ("uvicorn, httptools, uvloop", "(httptools/"),
    ("uvicorn, httptools, uvloop", "(uvloop/"),
    ("PyJWT, cryptography", "(jwt/"),
    ("PyJWT, cryptography", "(cryptography/"),
    ("shop's own code", "(shop/"),
    ("logging", "(logging/"),
    ("asyncio", "(asyncio/"),
)


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


async def record(pid: int, seconds: float) -> Path | None:
    """Collapsed stacks of `pid` over `seconds`, or None when py-spy cannot attach (no ptrace)."""
    tool = py_spy()
    if tool is None:
        return None
    out = WORK / f"profile-{pid}.txt"
    process = await asyncio.create_subprocess_exec(
        tool,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(round(seconds)),
        "--rate",
        "250",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0 or not out.exists():
        print(f"  py-spy could not profile: {err.decode(errors='replace').strip()[:300]}")
        return None
    return out


def _group(frame: str) -> str:
    for name, marker in GROUPS:
        if marker in frame:
            return name
    return "other (stdlib: uuid, json, contextlib …)"


def summarise(path: Path, top: int = 8) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """(samples, [(library, share of self time)], [(shop function, inclusive share)])."""
    by_group: Counter[str] = Counter()
    by_shop: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # Only the event loop's thread serves requests: leave out the thread pool (argon2, waits)
        # and samples without a Python frame.
        if not frames[-1] or any("(threading.py" in frame for frame in frames):
            continue
        total += count
        by_group[_group(frames[-1])] += count
        seen = set()
        for frame in frames:
            if "(shop/" in frame and "(shop/__main__.py" not in frame and "(shop/cli.py" not in frame:
                name = frame.split(" (")[0]
                if name not in seen:
                    seen.add(name)
                    by_shop[name] += count
    if not total:
        return 0, [], []
    groups = [(name, count / total) for name, count in by_group.most_common()]
    shop = [(name, count / total) for name, count in by_shop.most_common(top)]
    return total, groups, shop
