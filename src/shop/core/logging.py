"""One JSON object per log line, so that operators can ship logs without parsing prose.

Every record made while a request is under way carries that request's `request_id`, and its
`user_id` once the caller is known, whoever logs it (uvicorn, SQLAlchemy, the app): the middleware
opens a `LogContext` per request in a context variable, the bearer guard and sign-in name the user,
and a filter on the handler copies both onto each record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


@dataclass(slots=True)
class LogContext:
    """What every log line of one request says about it. Mutable on purpose: a dependency that runs
    in a copied context (a thread) still names the user for the request's later lines."""

    request_id: str
    user_id: str | None = None


_CONTEXT: ContextVar[LogContext | None] = ContextVar("shop_log_context", default=None)


def open_request(request_id: str) -> Token[LogContext | None]:
    return _CONTEXT.set(LogContext(request_id))


def close_request(token: Token[LogContext | None]) -> None:
    _CONTEXT.reset(token)


def bind_user(user_id: object) -> None:
    """Name the user of the request under way in its later log lines (no-op outside a request)."""
    context = _CONTEXT.get()
    if context is not None:
        context.user_id = str(user_id)


def current_context() -> LogContext | None:
    return _CONTEXT.get()


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _CONTEXT.get()
        if context is not None:
            if not hasattr(record, "request_id"):
                record.request_id = context.request_id
            if context.user_id is not None and not hasattr(record, "user_id"):
                record.user_id = context.user_id
        return True


class QuietStart(logging.Filter):
    """Drops what every start would repeat and nobody reads: Alembic's INFO lines about itself
    (plugins set up, the dialect, transactional DDL) — the lines of a migration that actually runs
    ("Running upgrade a -> b") stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("alembic"):
            return True
        return str(record.msg).startswith("Running ")


# Fields a library adds for its own terminal output: uvicorn's `color_message` repeats `message`
# with ANSI colour codes.
_DROPPED = frozenset({"color_message"})

# One encoder for every line (json.dumps with options builds a new one per call).
_ENCODE = json.JSONEncoder(default=str, ensure_ascii=False).encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODE(entry)


class JsonLinesHandler(logging.StreamHandler[Any]):
    """The stream handler `configure_logging` installs. Request lines (`log_request`) made in one
    turn of the event loop are written together at its end, in one write: under load, a write (and
    a system call) per request cost as much as the rest of the line. Any other record, a flush and
    the exit write the waiting lines first, so the order of lines stays the order they were made."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._waiting: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add_line(self, line: str) -> None:
        if self._waiting and self._loop is not None and self._loop.is_closed():
            self.flush()  # a loop closed before its turn ended (tests run one loop after another)
        if not self._waiting:
            try:
                self._loop = asyncio.get_running_loop()
                self._loop.call_soon(self.flush)
            except RuntimeError:  # no event loop: written at once
                self._waiting.append(line)
                self.flush()
                return
        self._waiting.append(line)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._waiting:
                lines = "".join(self._waiting)
                self._waiting.clear()
                self.stream.write(lines)
            super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        if self._waiting:
            self.flush()
        super().emit(record)


def configure_logging(level: str = "INFO") -> None:
    # A line never shows the caller's file and line, the thread or the process (they are in
    # _STANDARD): logging need not find them for every record, one per request at least (the
    # "Optimization" section of the logging HOWTO).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = JsonLinesHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    handler.addFilter(QuietStart())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own request log replaces uvicorn's access log.
    logging.getLogger("uvicorn.access").disabled = True


# --- the request line ----------------------------------------------------------------------------

REQUEST_LOGGER = logging.getLogger("shop.request")


class _Clock:
    """`JsonFormatter`'s `time`, with the date and time of day formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp(self, now: float) -> str:
        second = math.floor(now)
        # As datetime does: the fraction rounded to microseconds, then cut to milliseconds.
        micros = round((now - second) * 1_000_000)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{micros // 1000:03d}+00:00"


_CLOCK = _Clock()


def _json_handler() -> JsonLinesHandler | None:
    """The handler `configure_logging` installed, when it is the only place the request line goes
    (no handler of another kind, on the root or on the way: pytest's capture, an operator's own)."""
    if REQUEST_LOGGER.handlers or not REQUEST_LOGGER.propagate or REQUEST_LOGGER.disabled:
        return None
    parent = REQUEST_LOGGER.parent
    while parent is not None and parent is not logging.root:
        if parent.handlers or not parent.propagate or parent.disabled:
            return None
        parent = parent.parent
    handlers = logging.root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if (
        type(handler) is not JsonLinesHandler
        or type(handler.formatter) is not JsonFormatter
        or handler.level > logging.INFO
        or any(type(f) not in (RequestContextFilter, QuietStart) for f in handler.filters)
    ):
        return None
    return handler


def log_request(
    request_id: str, user_id: str | None, *, method: str, route: str, status: int, duration_ms: float
) -> None:
    """The one INFO line per request: `{"message": "request", "request_id", "user_id" (once known),
    "method", "route", "status", "duration_ms"}`. Nothing is done when INFO is off. When the line
    goes only to `configure_logging`'s handler, it is written as `JsonFormatter` would write it, without
    a LogRecord, the filters (which add nothing to it) and the generic formatting: the line is on every
    request's path, and that costs as much as the framework's own work on the lightest routes."""
    if not REQUEST_LOGGER.isEnabledFor(logging.INFO):
        return
    handler = _json_handler()
    if handler is None:
        extra: dict[str, Any] = {"request_id": request_id}
        if user_id:
            extra["user_id"] = user_id
        extra.update(method=method, route=route, status=status, duration_ms=duration_ms)
        REQUEST_LOGGER.info("request", extra=extra)
        return
    user = f', "user_id": {encode_basestring(user_id)}' if user_id else ""
    line = (
        f'{{"time": "{_CLOCK.stamp(time.time())}", "level": "info", "logger": "shop.request", '
        f'"message": "request", "request_id": {encode_basestring(request_id)}{user}, '
        f'"method": {encode_basestring(method)}, "route": {encode_basestring(route)}, '
        f'"status": {status}, "duration_ms": {duration_ms!r}}}\n'
    )
    handler.add_line(line)
