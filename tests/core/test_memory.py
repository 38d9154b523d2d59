"""A worker's memory after a login: argon2's block is given back (issue #25)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# In a process of its own: the allocator's thresholds are process-wide and move once a block is freed.
_LOGIN = """
import sys
from concurrent.futures import ThreadPoolExecutor
from argon2.low_level import Type, hash_secret_raw
from shop.core.memory import unmap_large_blocks

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "fixed":
    assert unmap_large_blocks()
before = resident_mb()
with ThreadPoolExecutor(1) as pool:  # as PasswordHasher hashes: in a thread of its own
    for _ in range(3):
        pool.submit(hash_secret_raw, b"password", b"some salt 16 b.", 2, 19456, 1, 32, Type.ID).result()
print(resident_mb() - before)
"""


def _growth_mb(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", _LOGIN, mode], capture_output=True, text=True, check=True)
    return float(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
def test_argon2_block_is_not_kept_resident() -> None:
    # Left to itself glibc keeps the 19 MiB block; with the threshold fixed it is unmapped after use.
    assert _growth_mb("default") > 15
    assert _growth_mb("fixed") < 5
