"""The wheel's one build step beyond setuptools' own: the gettext catalogs' `.po` sources are
compiled into the `.mo` files shop loads, inside the built package (the checkout keeps only the
sources; `make catalogs` compiles them in place for a development install)."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po_path in sorted(Path(self.build_lib).rglob("locale/*/LC_MESSAGES/*.po")):
            with po_path.open("rb") as source:
                catalog = read_po(source)
            with po_path.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog, use_fuzzy=False)


setup(cmdclass={"build_py": BuildPyWithCatalogs})
