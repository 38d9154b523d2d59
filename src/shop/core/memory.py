"""How a serving process gives memory back to the system (glibc's allocator; elsewhere nothing).

Each argon2 run allocates argon2_memory_cost KiB (19 MiB by default) in its hashing thread and frees
it. Kept for the next run, the block costs nothing to allocate again, but it stays resident for the
life of the process (issue #25: 21 MB of a worker's 171). Handed back after every run instead, each
run faults its block in afresh: 4,865 page faults and about 10 ms of system time on top of 19 ms of
hashing, a third fewer logins a second. So the blocks are kept while hashes follow each other
(`keep_free_blocks`) and given back once they pause (`give_back_free_memory`, `PasswordHasher`)."""

from __future__ import annotations

import ctypes
import os

# mallopt's parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# The largest mmap threshold glibc accepts (HEAP_MAX_SIZE / 2 on 64 bits): a block this large or
# larger always has a mapping of its own, unmapped when freed.
_LARGEST_MMAP_THRESHOLD = 32 * 1024 * 1024
# Above a kept block's size, for the allocator's own header and rounding.
_BLOCK_MARGIN = 1024 * 1024
# mallopt takes a C int: ctypes would wrap a larger value around to a negative one, silently.
_INT_MAX = 2**31 - 1
# The same, for a process about to start (glibc's environment variable).
ARENA_MAX_ENV = "MALLOC_ARENA_MAX"


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc's, or not
    except (OSError, AttributeError):
        return None
    return libc


def share_one_arena() -> bool:
    """Every thread of this process, and of the processes it starts, allocates from glibc's main
    arena, the one whose free memory `malloc_trim` hands back (a thread's own arena keeps the top of
    its heap until a free leaves more than the trim threshold there, which glibc raises to twice the
    largest block freed); False where the allocator is not glibc's. The threads that allocate much
    are the event loop's and a few hashing ones, so one arena's lock is no contention.

    An arena is chosen at a thread's first allocation, and once a second one exists every later
    thread may be given it: call this before any thread starts (the migrations' name lookup runs in
    one). uvicorn's workers start a thread of their own before any of shop's code runs, so they are
    told through the environment (MALLOC_ARENA_MAX), which glibc reads when a process starts."""
    libc = _libc()
    if libc is None:
        return False
    os.environ[ARENA_MAX_ENV] = "1"
    return bool(libc.mallopt(_M_ARENA_MAX, 1))


def keep_free_blocks(size: int, count: int) -> bool:
    """Up to `count` freed blocks of `size` bytes stay in glibc's heap for the next allocations of
    that size, instead of going back to the system at each free (`give_back_free_memory` hands them
    back); False where the allocator is not glibc's or the blocks are too large for its heap.

    glibc's own thresholds keep one such block: the first one freed raises its mmap threshold above
    the block's size and its trim threshold to twice that. Two freed together leave a heap top above
    that trim threshold, which glibc then hands back (with 2 hashes at once, every hash was faulted in
    afresh: 4,848 page faults each). Setting the thresholds fixes both for the life of the process: the
    mmap threshold just above the block's size, where glibc's own settles, and the trim threshold at
    `count` + 1 blocks where glibc's own is at 2 (the same for a lone worker's one hashing thread)."""
    libc = _libc()
    mmap_threshold = size + _BLOCK_MARGIN
    if libc is None or mmap_threshold > _LARGEST_MMAP_THRESHOLD:
        return False
    # Many cores may ask for more than an int holds (129 blocks of 20 MiB): the largest it holds.
    trim_threshold = min((count + 1) * mmap_threshold, _INT_MAX)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )


def give_back_free_memory() -> bool:
    """glibc's `malloc_trim(0)`: the free pages of the arenas go back to the system; False where
    the allocator is not glibc's."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
