"""The message catalogs: every message the code says is translated in every shipped language, with
the same placeholders; and what is loaded is what the catalogs say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file

import shop
from shop.localization.catalogs import CATALOGS, SHIPPED_LANGUAGES, text

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
