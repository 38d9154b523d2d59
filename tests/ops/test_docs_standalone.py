"""The docs stand alone: the contract they cite is in docs/, every relative link resolves, no path
outside the repository and no internal issue number; a changelog, upgrade notes and a backup runbook."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def documents() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found += sorted(p for p in (ROOT / "examples").rglob("*.md") if "node_modules" not in p.parts)
    return found


def test_the_contract_and_the_release_notes_are_in_the_repository() -> None:
    contract = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    for section in ("## Conventions", "## Operations", "## Configuration", "## Command line", "## Changes"):
        assert section in contract
    assert "METRICS_TOKEN" in contract and "OTEL_EXPORTER_OTLP_ENDPOINT" in contract
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "keepachangelog.com" in changelog and "## [Unreleased]" in changelog
    assert "## To the next version" in (ROOT / "docs" / "UPGRADING.md").read_text(encoding="utf-8")
    assert (ROOT / "docs" / "BACKUP.md").is_file()


def test_no_outside_path_and_no_issue_number() -> None:
    problems = []
    for path in documents():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}"
            if re.search(r"shared/spec|\.\./shared|/work/|\.\./\.\./", line):
                problems.append(f"{where}: outside path: {line.strip()}")
            if re.search(r"(?i)\bissues?\s*#?\d+|(?<![\w&/#])#\d+\b", line):
                problems.append(f"{where}: issue number: {line.strip()}")
            if (
                re.search(r"(?<![\w/.-])API\.md", line)
                and "docs/API.md" not in line
                and "(API.md)" not in line
            ):
                problems.append(f"{where}: API.md without a link to docs/API.md: {line.strip()}")
    assert problems == []


def test_every_relative_link_resolves() -> None:
    broken = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file = target.split("#", 1)[0]
            if file and not (path.parent / file).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert broken == []
