"""The localization context's message catalog (gettext domain `localization`): labels of address
forms and the messages of address checks, in every shipped language.

Sources: `locale/<lang>/LC_MESSAGES/localization.po`; compiled to `.mo` by `make catalogs` and by
the wheel's build. Code names a message by its English text: `text(language, "City")` for one said
now, `N_("City")` for one kept in a table and said later (both found by the catalog test).
"""

from __future__ import annotations

from pathlib import Path

from shop.core.i18n import Catalogs

SHIPPED_LANGUAGES = ("en", "es", "zh", "fr", "de", "ja", "pt")
LOCALE_DIR = Path(__file__).parent / "locale"
CATALOGS = Catalogs(LOCALE_DIR, "localization", SHIPPED_LANGUAGES)
# The titles and details of problems (every context's errors, the kernel's too), keyed by their English
# text: the kernel's error handlers ask for them through `public.problem_text`, plugged in at bootstrap.
PROBLEMS = Catalogs(LOCALE_DIR, "problems", SHIPPED_LANGUAGES)


def N_(message: str) -> str:
    return message


def text(language: str, message: str) -> str:
    """`message` in `language` (a shipped language, else English)."""
    return CATALOGS.gettext(language, message)
