"""Mail templates of a context: `<folder>/<language>/<name>.txt`, the first line `Subject: …`, then a
blank line, then the body, with `$name` placeholders."""

from __future__ import annotations

from pathlib import Path
from string import Template

from shop.core.mail.outbox import RenderedMail


class MailTemplates:
    def __init__(self, folder: Path, fallback_language: str) -> None:
        self.folder = folder
        self.fallback_language = fallback_language

    def render(self, name: str, language: str, **values: str) -> RenderedMail:
        """Render `name` in `language`, falling back to the fallback language."""
        path = self.folder / language / f"{name}.txt"
        if not path.exists():
            path = self.folder / self.fallback_language / f"{name}.txt"
        text = Template(path.read_text(encoding="utf-8")).substitute(values)
        head, _, body = text.partition("\n\n")
        return RenderedMail(subject=head.removeprefix("Subject:").strip(), body=body)
