"""Redocly's linter, recommended rules (redocly.yaml), over the exported docs/openapi.json: no error,
no warning. The operations that cannot answer a 4xx are listed, with why, in
.redocly.lint-ignore.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.support.ci import unavailable

ROOT = Path(__file__).resolve().parents[2]
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"


def node_tool(path: Path) -> Path:
    """A tool installed by `npm ci`; outside CI a machine without Node skips, saying so."""
    if not path.exists() or shutil.which("node") is None:
        unavailable(f"needs Node >= 20.19 and `npm ci` ({path.relative_to(ROOT)} is missing)")
    return path


def test_redocly_recommended_rules_find_nothing() -> None:
    redocly = node_tool(REDOCLY)
    result = subprocess.run(
        [str(redocly), "lint", "docs/openapi.json", "--format=json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    totals = report["totals"]
    problems = [
        f"{p['severity']} {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
        for p in report.get("problems", [])
        if not p.get("ignored")
    ]
    assert totals["errors"] == 0 and totals["warnings"] == 0, problems
    assert result.returncode == 0, result.stderr
