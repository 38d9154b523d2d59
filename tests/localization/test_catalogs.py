"""The message catalogs: every message the code says is translated in every shipped language, with
the same placeholders; and what is loaded is what the catalogs say."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_file

import shop
from shop.core.errors import ShopError
from shop.localization.catalogs import CATALOGS, PROBLEMS, SHIPPED_LANGUAGES, text
from tests.support.problems import assert_problem

SOURCE = Path(shop.__file__).parent
# How the code names a message: `text(language, "…")` says it now, `N_("…")` marks it for later.
KEYWORDS = {"text": (2,), "N_": None}
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def messages_in_code() -> set[str]:
    """Every message of the modules that speak through the catalogs (they import `text` or `N_`)."""
    found = set()
    for path in sorted(SOURCE.rglob("*.py")):
        if "from shop.localization.catalogs import" not in path.read_text(encoding="utf-8"):
            continue
        for _, message, _, _ in extract_from_file("python", path, keywords=KEYWORDS, comment_tags=()):
            if isinstance(message, str) and message:
                found.add(message)
    return found


def test_the_code_says_messages() -> None:
    used = messages_in_code()
    assert {"Postal code", "Prefecture", "This field is required in this country."} <= used


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_every_message_the_code_uses_is_translated(language: str) -> None:
    missing = messages_in_code() - CATALOGS.messages(language)
    assert not missing, f"{language} lacks {sorted(missing)}"


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    for message in CATALOGS.messages(language):
        translated = text(language, message)
        assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message)), message


def test_a_missing_message_falls_back_to_english() -> None:
    assert text("de", "Postal code") == "Postleitzahl"
    assert text("de", "A message nobody wrote") == "A message nobody wrote"
    assert text("xx", "Postal code") == "Postal code"


def problem_texts() -> set[str]:
    """The title and detail of every error type of shop, as the kernel's handlers say them."""
    for module in pkgutil.walk_packages(shop.__path__, "shop."):
        if ".migrations" not in module.name and module.name not in ("shop.main", "shop.__main__"):
            importlib.import_module(module.name)

    def subclasses(kind: type[ShopError]) -> Iterator[type[ShopError]]:
        for child in kind.__subclasses__():
            yield child
            yield from subclasses(child)

    errors = (ShopError, *subclasses(ShopError))
    texts = {"The request is not valid.", HTTPStatus(422).phrase, HTTPStatus(405).phrase}
    for error in errors:
        texts |= {error.detail, error.title or HTTPStatus(error.status).phrase}
    # And each detail the code writes as a literal when it raises one (`NotFound("No such session.")`).
    names = {error.__name__ for error in errors}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = getattr(node, "func", None)
            name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", None)
            if (
                isinstance(node, ast.Call)
                and name in names
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                texts.add(node.args[0].value)
    return texts


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_every_problem_text_is_translated(language: str) -> None:
    missing = problem_texts() - PROBLEMS.messages(language)
    assert not missing, f"{language} lacks {sorted(missing)}"


async def test_problems_answer_in_the_requests_language(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/countries/XX/address-format", headers={"Accept-Language": "de"})
    body = assert_problem(response, 404, "unknown_country")
    assert (body["title"], body["detail"]) == (
        "Unbekanntes Land",
        "Es gibt kein Land nach ISO 3166-1 mit diesem Code.",
    )
    unknown = await client.get("/api/v1/nowhere", headers={"Accept-Language": "ja"})
    assert assert_problem(unknown, 404, "not_found")["detail"] == "リソースが見つかりません。"
    invalid = await client.get(
        "/api/v1/money/format?amount=x&currency=EUR", headers={"Accept-Language": "pt-BR"}
    )
    body = assert_problem(invalid, 422, "validation_error")
    assert (body["title"], body["detail"]) == ("Requisição não processável", "A requisição não é válida.")
    english = await client.get(
        "/api/v1/countries/XX/address-format", headers={"Accept-Language": "ko, en;q=0.5"}
    )
    assert assert_problem(english, 404, "unknown_country")["title"] == "Unknown country"


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_problem_translations_keep_their_fields(language: str) -> None:
    for message in PROBLEMS.messages(language):
        translated = PROBLEMS.gettext(language, message)
        assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message)), message


async def test_a_detail_with_values_is_translated_then_filled(client: httpx.AsyncClient) -> None:
    params = {"from": "EUR", "to": "XXX", "amount": "1"}
    german = await client.get("/api/v1/convert", params=params, headers={"Accept-Language": "de"})
    assert assert_problem(german, 422, "unknown_currency")["detail"] == "XXX ist keine aktive Währung."
    english = await client.get("/api/v1/convert", params=params)
    assert assert_problem(english, 422, "unknown_currency")["detail"] == "XXX is not an active currency."
