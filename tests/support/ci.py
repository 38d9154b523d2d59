"""What a test needs from the machine (a program, a server, root): outside CI a machine without it
skips the test, saying why; under CI=true the same lack fails it, for CI must provide everything."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip the test for `reason`, or fail it under CI, where nothing may be missing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(f"{reason} (CI provides it)")


def require(tool: str, why: str) -> str:
    """The path of a program the test needs."""
    path = shutil.which(tool)
    if path is None:
        unavailable(f"{tool} is not installed ({why})")
    return path
