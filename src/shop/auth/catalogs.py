"""auth's message catalogs (gettext, read through `shop.core.i18n`): the mails it sends (domain
`mail`) and the pages it serves (domain `pages`), in every shipped language.

Sources: `locale/<lang>/LC_MESSAGES/{mail,pages}.po`; compiled to `.mo` by `make catalogs` and by the
wheel's build. Code names a message by its English text, marked `N_("…")` where it is written (the
catalog test extracts every one and asks each language for it); values go in by name, `{link}`, once
the message is translated.
"""

from __future__ import annotations

from pathlib import Path

from shop.core.i18n import Catalogs
from shop.localization import public as localization

LOCALE_DIR = Path(__file__).parent / "locale"
MAIL = Catalogs(LOCALE_DIR, "mail", localization.SHIPPED_LANGUAGES)
PAGES = Catalogs(LOCALE_DIR, "pages", localization.SHIPPED_LANGUAGES)


def N_(message: str) -> str:
    """Marks `message` as a catalog message id; it is translated where it is said."""
    return message
