"""Password hashing (argon2id through passlib) and the password rules of API.md (NIST SP 800-63B)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from passlib.context import CryptContext

from shop.core.config import HASHING_SLOTS_ENV, Settings
from shop.core.conflicts import once
from shop.core.memory import give_back_free_memory, keep_free_blocks

T = TypeVar("T")

MAX_PASSWORD_LENGTH = 128
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def password_problem(password: str, email: str | None, min_length: int) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < min_length:
        return f"The password must have at least {min_length} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must have at most {MAX_PASSWORD_LENGTH} characters."
    if email is not None and password.strip().lower() == email.strip().lower():
        return "The password must not be the email address."
    if password.lower() in common_passwords():
        return "This password is too common: it appears in lists of breached passwords."
    return None


def hashing_threads(web_concurrency: int, cores: int | None = None) -> int:
    """How many argon2 computations one worker runs at once.

    A lone worker hashes on every core but one, which its event loop keeps for everything else (a
    /health/live probe during a login storm: a second hashing thread on 2 cores doubled the probe's
    p99 in issue #25's measurement).

    Several workers share one listening socket, and the kernel does not share the connections out
    evenly: a worker awake first accepts every connection waiting (`ss` showed 8 of 8 keep-alive
    connections of a login storm on one of 2 workers). A worker sized for its share of the cores
    then leaves the others idle for as long as those connections last (the storm ran at 0.60-0.67 of
    the all-core ceiling). So each worker may hash on every core, its threads at a low priority
    (HASHING_NICE) that still leaves each event loop its turn, and the workers take turns at the
    cores (`HashingSlots`): at most cores hashes run at once, each of argon2_memory_cost KiB."""
    cores = cores or len(os.sched_getaffinity(0))
    if web_concurrency == 1:
        return max(1, cores - 1)
    return cores


# The nice value of the hashing threads. Leaving a core to the event loop is not enough: the
# machine's other processes (PostgreSQL, a proxy, other workers) take that core too, and a probe then
# waits behind a hash. At a lower priority a hash only uses what nothing else wants, so the event loop
# answers at once; with nothing else to run, hashing keeps its whole core.
HASHING_NICE = 10

# After this long without a hash running, the hashing threads' memory (argon2_memory_cost KiB each,
# kept between hashes so that a storm of logins does not fault it in again for every one) is given
# back to the system (`give_back_free_memory`).
IDLE_GIVE_BACK_SECONDS = 2.0


def _lower_priority() -> None:
    # Linux keeps a nice value per thread: this lowers the hashing thread's only.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICE)


_executors: dict[int, ThreadPoolExecutor] = {}


def _executor(threads: int) -> ThreadPoolExecutor:
    # One pool per process (per size): apps built by tests share it instead of each leaving threads.
    if threads not in _executors:
        _executors[threads] = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="argon2", initializer=_lower_priority
        )
    return _executors[threads]


class HashingSlots:
    """At most `count` (the cores) argon2 computations at once among the workers of one `shop
    serve`, each of which may hash on every core (`hashing_threads`): a hashing thread takes one of
    `count` slots, an exclusive `flock` on a file of the directory `shop serve` shares with its
    workers, for the length of one computation. More hashes than cores only share the cores and
    their caches: on 2 cores, 4 at once verified 15-20 % fewer passwords a second than 2.

    The lock is the kernel's: a worker that dies holding a slot gives it back with its files. Each
    thread opens the files for itself, as two descriptions of one file exclude each other and one
    shared description would not."""

    def __init__(self, directory: str, count: int) -> None:
        self._paths = [os.path.join(directory, f"slot-{number}") for number in range(count)]
        self._local = threading.local()

    def _files(self) -> list[int]:
        files: list[int] | None = getattr(self._local, "files", None)
        if files is None:
            files = self._local.files = [os.open(path, os.O_RDWR | os.O_CREAT, 0o600) for path in self._paths]
        return files

    def run(self, function: Callable[..., T], *args: str) -> T:
        """`function(*args)` in a free slot, or, when all are taken, in the first of a random turn
        of them that frees (waiters spread over the slots, each of which stays busy)."""
        files = self._files()
        start = random.randrange(len(files))  # noqa: S311 - spreading waiters, not a secret
        turn = files[start:] + files[:start]
        for held in turn:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                continue
        else:
            held = turn[0]
            fcntl.flock(held, fcntl.LOCK_EX)
        try:
            return function(*args)
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def hashing_slots(cores: int | None = None) -> HashingSlots | None:
    """The slots of this worker's `shop serve`, when it runs several workers."""
    directory = os.environ.get(HASHING_SLOTS_ENV)
    if not directory:
        return None
    return HashingSlots(directory, cores or len(os.sched_getaffinity(0)))


class PasswordHasher:
    """argon2id with configurable cost. Hashing runs in a small pool of its own (hashing_threads),
    never on the event loop; callers beyond the pool's size wait their turn in its queue, and with
    several workers, a hash waits for a free core among them all (`HashingSlots`)."""

    def __init__(self, settings: Settings) -> None:
        self._threads = hashing_threads(settings.web_concurrency)
        # One block of argon2_memory_cost KiB per hashing thread, kept between its hashes.
        keep_free_blocks(settings.argon2_memory_cost * 1024, self._threads)
        self._slots = hashing_slots() if settings.web_concurrency > 1 else None
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=settings.argon2_memory_cost,
            argon2__rounds=settings.argon2_time_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        self._dummy: str | None = None
        self._running = 0
        self._give_back: asyncio.TimerHandle | None = None

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        loop = asyncio.get_running_loop()
        executor = _executor(self._threads)
        if self._give_back is not None:
            self._give_back.cancel()
            self._give_back = None
        self._running += 1
        try:
            if self._slots is None:
                return await loop.run_in_executor(executor, function, *args)
            return await loop.run_in_executor(executor, self._slots.run, function, *args)
        finally:
            self._running -= 1
            if self._running == 0:
                self._give_back = loop.call_later(IDLE_GIVE_BACK_SECONDS, self._when_idle, loop)

    def _when_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        self._give_back = None
        if self._running == 0:
            # In a hashing thread: the event loop does not wait for the allocator's walk.
            loop.run_in_executor(_executor(self._threads), give_back_free_memory)

    # Each argon2 run is the request's once, however often its transaction is tried
    # (`shop.core.conflicts`): a retry gets the first try's hash or verdict.

    async def hash(self, password: str) -> str:
        return await once(("argon2-hash", password), lambda: self._hash(password))

    async def _hash(self, password: str) -> str:
        return str(await self._run(self._context.hash, password))

    async def verify(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one uses outdated parameters)."""
        return await once(("argon2-verify", password, hashed), lambda: self._verify(password, hashed))

    async def _verify(self, password: str, hashed: str) -> tuple[bool, str | None]:
        ok, new_hash = await self._run(self._context.verify_and_update, password, hashed)
        return bool(ok), new_hash

    def check(self, password: str, hashed: str) -> bool:
        """One plain verify, blocking (no rehash): what `burn` spends."""
        return bool(self._context.verify(password, hashed))

    async def burn(self, password: str) -> None:
        """Spend one verify on a dummy hash, so an unknown email costs what a wrong password does."""
        if self._dummy is None:
            self._dummy = await self._hash("dummy password for timing equality")
        dummy = self._dummy
        await once(("argon2-burn", password), lambda: self._run(self.check, password, dummy))
