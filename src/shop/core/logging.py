"""One JSON object per log line, so that operators can ship logs without parsing prose.

Every record made while a request is under way carries that request's `request_id`, and its
`user_id` once the caller is known, whoever logs it (uvicorn, SQLAlchemy, the app): the middleware
opens a `LogContext` per request in a context variable, the bearer guard and sign-in name the user,
and a filter on the handler copies both onto each record.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
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


def configure_logging(level: str = "INFO") -> None:
    # A line never shows the caller's file and line, the thread or the process (they are in
    # _STANDARD): logging need not find them for every record, one per request at least (the
    # "Optimization" section of the logging HOWTO).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
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
