"""auth's message catalogs (`mail` and `pages`, in en es zh fr de ja pt): every message its code
names is translated in every shipped language, with the placeholders of the message id; no catalog
keeps a message the code no longer names; and every mail renders in every language, each value in
place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

import shop
from shop.auth.catalogs import MAIL, PAGES
from shop.auth.mails import LINK, MAILS, render_mail
from shop.core.i18n import Catalogs
from shop.localization.public import SHIPPED_LANGUAGES

AUTH = Path(shop.__file__).parent / "auth"
# The modules that speak through auth's catalogs, and the catalog each one speaks through.
SPEAKERS = {"mails.py": MAIL, "accounts/pages.py": PAGES, "passkeys/pages.py": PAGES}
CATALOGS = {"mail": MAIL, "pages": PAGES}
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
VALUES = {
    "link": "https://shop.example/verify-email?token=abc",
    "hours": "24",
    "minutes": "30",
    "provider": "Example ID",
    "passkey": "Laptop",
}


def messages_in_code(catalog: Catalogs) -> set[str]:
    """Every message id the modules of `catalog` name with `N_` (Babel's extractor)."""
    found = set()
    for module, speaks_through in SPEAKERS.items():
        if speaks_through is catalog:
            for _, message, _, _ in extract_from_file("python", AUTH / module, keywords={"N_": None}):
                if isinstance(message, str) and message:
                    found.add(message)
    return found


def translations(catalog: Catalogs, language: str) -> dict[str, str]:
    """What the `.po` source says (the `.mo` beside it may be older): message id → translation."""
    with (catalog.directory / language / "LC_MESSAGES" / f"{catalog.domain}.po").open("rb") as file:
        return {message.id: message.string for message in read_po(file) if message.id and message.string}


def test_every_module_that_speaks_is_known() -> None:
    speaking = {
        path.relative_to(AUTH).as_posix()
        for path in AUTH.rglob("*.py")
        if "from shop.auth.catalogs import" in path.read_text(encoding="utf-8")
    }
    assert speaking == set(SPEAKERS)


def test_the_code_names_messages() -> None:
    assert {"Hello,", "Reset your password", "Two-step sign-in is on"} <= messages_in_code(MAIL)
    assert {"Choose a new password", "Passkeys", "One moment…"} <= messages_in_code(PAGES)


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("domain", CATALOGS)
def test_every_message_the_code_names_is_translated(domain: str, language: str) -> None:
    catalog = CATALOGS[domain]
    missing = messages_in_code(catalog) - catalog.messages(language)
    assert not missing, f"{domain}.po of {language} lacks {sorted(missing)}"


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("domain", CATALOGS)
def test_no_catalog_keeps_a_message_the_code_dropped(domain: str, language: str) -> None:
    catalog = CATALOGS[domain]
    stale = catalog.messages(language) - messages_in_code(catalog)
    assert not stale, f"{domain}.po of {language} still holds {sorted(stale)}"


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("domain", CATALOGS)
def test_translations_keep_their_placeholders(domain: str, language: str) -> None:
    for message, translated in translations(CATALOGS[domain], language).items():
        assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message)), message


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("name", sorted(MAILS))
def test_every_mail_renders_in_every_language(name: str, language: str) -> None:
    mail = render_mail(name, language, **VALUES)
    english = render_mail(name, "en", **VALUES)
    assert mail.subject.strip() and "\n" not in mail.subject
    assert mail.body.endswith("\n") and not PLACEHOLDER.search(mail.subject + mail.body)
    assert mail.body.count("\n\n") == english.body.count("\n\n")
    named = {
        field[1:-1]
        for part in (MAILS[name].subject, *MAILS[name].paragraphs)
        for field in PLACEHOLDER.findall(part)
    }
    for field in named:
        assert VALUES[field] in mail.body, field
    if "link" in named:
        assert f"\n\n{VALUES['link']}\n\n" in mail.body, "the link stands alone on its line"
    if language != "en":
        assert (mail.subject, mail.body) != (english.subject, english.body)


def test_the_link_is_no_message() -> None:
    assert LINK not in messages_in_code(MAIL)


def test_a_language_without_a_catalog_gets_english() -> None:
    assert render_mail("verify_email", "ko", **VALUES) == render_mail("verify_email", "en", **VALUES)
    german = render_mail("verify_email", "de", **VALUES)
    assert german.subject == "Bestätigen Sie Ihre E-Mail-Adresse"
