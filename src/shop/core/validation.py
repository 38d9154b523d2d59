"""Input rules every request obeys, whatever route or schema it reaches.

C0 control characters other than tab, CR and LF (NUL first of all: PostgreSQL text cannot hold it)
fail validation in every client-supplied string. Two pieces cover every source of strings:
- `RequestModel`, the base of every request body: a check on each of its fields, so a new field or a
  new body model inherits it (tests/core/test_input.py walks the routes to make sure every body does);
- `reject_control_characters`, a dependency of the whole app for path, query and form values.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

CONTROL_CHARACTER_ERROR = "string_control_character"
CONTROL_CHARACTER_MESSAGE = "must not contain control characters (other than tab, CR and LF)"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


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
    return {"loc": loc, "msg": CONTROL_CHARACTER_MESSAGE, "type": CONTROL_CHARACTER_ERROR, "input": None}


async def reject_control_characters(request: Request) -> None:
    """App-wide dependency: path, query and form values with a control character are a 422."""
    errors = [
        _error(("path", name))
        for name, value in request.path_params.items()
        if isinstance(value, str) and has_control_character(value)
    ]
    errors += [
        _error(("query", name))
        for name, value in request.query_params.multi_items()
        if has_control_character(name) or has_control_character(value)
    ]
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in _FORM_TYPES:
        # Already parsed (and cached on the request) when the route takes a form.
        form = await request.form()
        errors += [
            _error(("body", name))
            for name, value in form.multi_items()
            if has_control_character(name) or (isinstance(value, str) and has_control_character(value))
        ]
    if errors:
        raise RequestValidationError(errors)
