"""How a serving process gives memory back to the system (glibc's allocator; elsewhere nothing).

Each argon2 run allocates argon2_memory_cost KiB (19 MiB by default) in its hashing thread and frees
it. glibc keeps the block for the next run, which then costs nothing to allocate, but it stays
resident for the life of the process (issue #25: 21 MB of a worker's 171). Unmapping it after every
run instead (a fixed mmap threshold) made each run fault its block in afresh: 4,865 page faults and
about 10 ms of system time on top of 19 ms of hashing, a third fewer logins a second. So the block is
kept while hashes follow each other and given back once they pause (`PasswordHasher`)."""

from __future__ import annotations

import ctypes
import os

# mallopt's parameter (glibc's malloc.h).
_M_ARENA_MAX = -8
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


def give_back_free_memory() -> bool:
    """glibc's `malloc_trim(0)`: the free pages of the arenas go back to the system; False where
    the allocator is not glibc's."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
