"""How a serving process gives memory back to the system (glibc's allocator; elsewhere nothing)."""

from __future__ import annotations

import ctypes

# mallopt's parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Blocks this large or larger get pages of their own, unmapped again when freed.
MMAP_THRESHOLD = 4 * 1024 * 1024


def unmap_large_blocks() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD (its trim threshold at twice that, glibc's own
    rule); False where the allocator is not glibc's.

    Each argon2 run allocates argon2_memory_cost KiB (19 MiB by default) and frees it. Left alone,
    glibc raises its mmap threshold to the size of the first such block freed and serves the next
    ones from the hashing thread's arena, where the block stays resident for the life of the process,
    logins or not (issue #25: 21 MB of a worker's 171). With the threshold fixed every hash maps its
    block afresh and unmaps it when done; that cost no measurable time (22.4 ms a hash either way)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD)
    )
