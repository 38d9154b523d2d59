"""Input rules every request obeys, whatever route or schema it reaches.

C0 control characters other than tab, CR and LF (NUL first of all: PostgreSQL text cannot hold it)
fail validation in every client-supplied string. Two pieces cover every source of strings:
- `RequestModel`, the base of every request body: a check on each of its fields, so a new field or a
  new body model inherits it (tests/core/test_input.py walks the routes to make sure every body does);
- `ControlCharacters`, around the whole app, for path, query and form values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from shop.core.problems import PROBLEM_JSON, STANDARD_MEMBERS, problem_response

CONTROL_CHARACTER_ERROR = "string_control_character"
CONTROL_CHARACTER_MESSAGE = "must not contain control characters (other than tab, CR and LF)"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _without_null(schema: dict[str, Any]) -> None:
    branches = schema.pop("anyOf", None)
    if branches is not None:
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            schema.update({key: value for key, value in kept[0].items() if key not in schema})
        else:
            schema["anyOf"] = kept
    if "default" in schema and schema["default"] is None:
        del schema["default"]


# On a field typed `X | None = None` that may be left out but is refused as null (a validator says
# so): its schema is X's alone, so the schema and the server refuse the same `null`. (Pydantic's
# SkipJsonSchema would do it by a union, which names its members in the errors' `loc`.)
LEFT_OUT_NOT_NULL = Field(json_schema_extra=_without_null)


def has_control_character(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _holds_control_character(value: object) -> bool:
    """Whether any string inside `value` (itself, or a key or item of its dicts and lists) holds one.

    Iterative: a body nested as deep as the JSON parser allows must not exhaust the stack here.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_control_character(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are refused (nobody can mass-assign `role` or
    `user_id`) and no string in any field may hold a control character."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if _holds_control_character(value):
            raise PydanticCustomError(CONTROL_CHARACTER_ERROR, CONTROL_CHARACTER_MESSAGE)
        return value


def _error(loc: tuple[str | int, ...]) -> dict[str, Any]:
    return {"loc": list(loc), "msg": CONTROL_CHARACTER_MESSAGE, "type": CONTROL_CHARACTER_ERROR}


# A C0 control character other than tab (09), LF (0a) and CR (0d), percent-encoded or raw.
_ENCODED_CONTROL = re.compile(rb"%(?:0[0-8bcefBCEF]|1[0-9a-fA-F])|[\x00-\x08\x0b\x0c\x0e-\x1f]")
_TEMPLATE_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


class ControlCharacters:
    """Path, query and form values holding a control character are a 422 naming them; run by
    `RequestGuardMiddleware` (`shop.core.middleware`) around the whole app.

    Outside the routes rather than a dependency: a request without any such character (all but a
    few) costs one regular-expression search of its path, and of its query string if it has one.
    """

    def __init__(self, path_templates: Callable[[], Iterable[str]]) -> None:
        self._path_templates = path_templates
        self._path_patterns: list[re.Pattern[str]] | None = None

    def url_errors(self, scope: Scope) -> list[dict[str, Any]]:
        """The path and query parameters that hold a control character."""
        errors: list[dict[str, Any]] = []
        path = scope["path"]
        if has_control_character(path):
            errors += [_error(loc) for loc in self._dirty_path_params(path)]
        query = scope.get("query_string")
        if query and _ENCODED_CONTROL.search(query):
            errors += [
                _error(("query", name))
                for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                if has_control_character(name) or has_control_character(value)
            ]
        return errors

    async def form_errors(
        self, scope: Scope, receive: Receive, content_type: bytes
    ) -> tuple[Receive, list[dict[str, Any]]]:
        """A form body's fields that hold one, and a `receive` that replays the body to the app;
        any other body is left unread."""
        if content_type.split(b";", 1)[0].strip().lower().decode("latin-1") not in _FORM_TYPES:
            return receive, []
        return await _check_form(scope, receive)

    async def refuse(self, scope: Scope, receive: Receive, send: Send, errors: list[dict[str, Any]]) -> None:
        extensions = self._documented_members(scope["path"], scope.get("method", "GET"))
        await problem_response(
            422, "validation_error", "The request is not valid.", errors=errors, extensions=extensions
        )(scope, receive, send)

    def _documented_members(self, path: str, method: str) -> dict[str, Any]:
        """The extension members the operation's documented `validation_error` carries (OAuth2's
        `error` and `error_description` at /token): answered here too, before the route runs, so
        that every 422 of the operation is the one its schema describes."""
        paths = self._path_templates()
        if not isinstance(paths, Mapping):
            return {}
        for template, item in paths.items():
            if _template_pattern(template).fullmatch(path):
                responses = item.get(method.lower(), {}).get("responses", {})
                examples = (
                    responses.get("422", {}).get("content", {}).get(PROBLEM_JSON, {}).get("examples", {})
                )
                value = examples.get("validation_error", {}).get("value", {})
                return {name: member for name, member in value.items() if name not in STANDARD_MEMBERS}
        return {}

    def _dirty_path_params(self, path: str) -> list[tuple[str, ...]]:
        """Where in the path: ("path", name) by the route template it matches, else ("path",)."""
        if self._path_patterns is None:
            self._path_patterns = [_template_pattern(t) for t in self._path_templates()]
        for pattern in self._path_patterns:
            match = pattern.fullmatch(path)
            if match:
                names = [name for name, value in match.groupdict().items() if has_control_character(value)]
                if names:
                    return [("path", name) for name in names]
        return [("path",)]


def _template_pattern(template: str) -> re.Pattern[str]:
    parts, position = [], 0
    for param in _TEMPLATE_PARAM.finditer(template):
        parts += [re.escape(template[position : param.start()]), f"(?P<{param.group(1)}>[^/]+)"]
        position = param.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts))


async def _check_form(scope: Scope, receive: Receive) -> tuple[Receive, list[dict[str, Any]]]:
    """Reads the form body (MAX_BODY_BYTES bounds it: the body limit wraps this), checks its fields,
    and hands back a `receive` that replays the body to the app."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return receive, []
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    errors: list[dict[str, Any]] = []
    try:
        request = Request(scope, replay)
        async with request.form() as form:
            errors = [
                _error(("body", name))
                for name, value in form.multi_items()
                if has_control_character(name) or (isinstance(value, str) and has_control_character(value))
            ]
    except Exception:
        errors = []  # an unparsable form is the app's to answer (a 422 too)
    replayed = False
    return replay, errors
