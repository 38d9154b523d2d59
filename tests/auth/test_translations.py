"""Mail and pages in every shipped language (en es zh fr de ja pt): each mail template and each page
text exists in each, with the placeholders of the English one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import shop
from shop.localization.public import SHIPPED_LANGUAGES

TEMPLATES = Path(shop.__file__).parent / "auth" / "templates"
MAILS = sorted(path.stem for path in (TEMPLATES / "en").glob("*.txt"))
PAGE_TEXTS = json.loads((TEMPLATES / "pages" / "texts.json").read_text(encoding="utf-8"))
PLACEHOLDER = re.compile(r"\$[a-z_]+")


def test_there_are_mails_to_compare() -> None:
    assert {"verify_email", "reset_password", "mfa_enabled", "mfa_disabled"} <= set(MAILS)


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("mail", MAILS)
def test_every_mail_is_written_in_every_language(language: str, mail: str) -> None:
    english = (TEMPLATES / "en" / f"{mail}.txt").read_text(encoding="utf-8")
    translated = (TEMPLATES / language / f"{mail}.txt").read_text(encoding="utf-8")
    assert translated.startswith("Subject: ")
    head, blank, body = translated.partition("\n\n")
    assert blank and "\n" not in head and body.strip()
    assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(english))


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_every_page_text_is_written_in_every_language(language: str) -> None:
    texts = PAGE_TEXTS[language]
    assert set(texts) == set(PAGE_TEXTS["en"])
    for key, english in PAGE_TEXTS["en"].items():
        assert texts[key].strip(), key
        assert PLACEHOLDER.findall(texts[key]) == PLACEHOLDER.findall(english), key
