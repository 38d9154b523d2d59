"""Message catalogs (gettext, read with Babel): a context keeps its `.po` sources under
`<package>/locale/<lang>/LC_MESSAGES/<domain>.po`; the build compiles them into `.mo` files beside them
(`make catalogs`, and the wheel's build step), which is what is loaded here.

A checkout that has not compiled them yet still speaks every language: the `.po` source is read
instead (Babel parses it in memory), so a missing build step costs start-up time, never a message.
The kernel knows no context: each context builds its own `Catalogs` with its own directory.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

FALLBACK = "en"


def compile_catalogs(root: Path) -> list[Path]:
    """Compile every `.po` under `root` into the `.mo` beside it; returns the `.mo` files written."""
    written = []
    for po_path in sorted(root.rglob("*.po")):
        with po_path.open("rb") as source:
            catalog = read_po(source)
        mo_path = po_path.with_suffix(".mo")
        with mo_path.open("wb") as target:
            write_mo(target, catalog, use_fuzzy=False)
        written.append(mo_path)
    return written


class Catalogs:
    """The translations of one gettext domain in a fixed set of languages, loaded once each."""

    def __init__(self, directory: Path, domain: str, languages: Iterable[str]) -> None:
        self.directory = directory
        self.domain = domain
        self.languages = tuple(languages)
        self._loaded: dict[str, NullTranslations] = {}
        self._lock = threading.Lock()

    def _load(self, language: str) -> NullTranslations:
        base = self.directory / language / "LC_MESSAGES" / self.domain
        mo_path, po_path = base.with_suffix(".mo"), base.with_suffix(".po")
        if mo_path.exists():
            with mo_path.open("rb") as file:
                return Translations(fp=file, domain=self.domain)
        if po_path.exists():
            with po_path.open("rb") as file:
                catalog = read_po(file)
            compiled = io.BytesIO()
            write_mo(compiled, catalog, use_fuzzy=False)
            compiled.seek(0)
            return Translations(fp=compiled, domain=self.domain)
        return NullTranslations()

    def translations(self, language: str) -> NullTranslations:
        """The catalog of `language` (a shipped one, else English)."""
        language = language if language in self.languages else FALLBACK
        found = self._loaded.get(language)
        if found is None:
            with self._lock:
                found = self._loaded.get(language) or self._load(language)
                self._loaded[language] = found
        return found

    def gettext(self, language: str, message: str) -> str:
        return self.translations(language).gettext(message)

    def messages(self, language: str) -> set[str]:
        """The message ids the catalog of `language` translates (for the completeness test)."""
        po_path = self.directory / language / "LC_MESSAGES" / f"{self.domain}.po"
        with po_path.open("rb") as file:
            catalog = read_po(file)
        return {
            message.id for message in catalog if isinstance(message.id, str) and message.id and message.string
        }
