"""SAST: bandit over a fixture tree (every severity, SARIF), the High threshold and Medium justifications."""

from __future__ import annotations

import json
from pathlib import Path

from tests.security.conftest import run_check

HIGH = "import hashlib\n\n\ndef digest(data: bytes) -> str:\n    return hashlib.md5(data).hexdigest()\n"
MEDIUM = (
    "import urllib.request\n\n\ndef fetch(url: str) -> bytes:\n"
    "    with urllib.request.urlopen(url) as response:  # nosec\n        return response.read()\n"
)


def tree(tmp_path: Path, **files: str) -> Path:
    root = tmp_path / "project"
    for name, text in files.items():
        path = root / "src" / "pkg" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_planted_high_finding_fails_with_sarif_evidence(tmp_path: Path) -> None:
    root = tree(tmp_path, weak=HIGH)
    verdict = run_check("sast", root, tmp_path / "evidence")
    assert verdict.status == "fail"
    assert "1 High (B324 src/pkg/weak.py:5)" in verdict.summary
    sarif = json.loads((tmp_path / "evidence" / "bandit.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["B324"]


def test_a_medium_finding_needs_a_justification_and_nosec_does_not_hide_it(tmp_path: Path) -> None:
    root = tree(tmp_path, fetch=MEDIUM)
    verdict = run_check("sast", root, tmp_path / "unjustified")
    assert verdict.status == "fail"
    assert "1 Medium without justification (B310 src/pkg/fetch.py:5)" in verdict.summary

    policy = root / "security" / "bandit-justifications.yml"
    policy.parent.mkdir(parents=True)
    policy.write_text(
        "justifications:\n"
        "  - {rule: B310, file: src/pkg/fetch.py, code: urllib.request.urlopen(url), reason: fixture}\n"
        "  - {rule: B108, file: src/pkg/gone.py, code: /tmp, reason: no longer matches anything}\n"
    )
    verdict = run_check("sast", root, tmp_path / "justified")
    assert verdict.status == "pass", verdict.summary
    assert "1 Medium (1 justified)" in verdict.summary and "1 stale justification" in verdict.summary
    findings = json.loads((tmp_path / "justified" / "findings.json").read_text())
    assert findings["mediumJustified"][0]["reason"] == "fixture"


def test_a_justification_without_a_reason_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path, fetch=MEDIUM)
    policy = root / "security" / "bandit-justifications.yml"
    policy.parent.mkdir(parents=True)
    policy.write_text("justifications:\n  - {rule: B310, file: src/pkg/fetch.py, code: urlopen}\n")
    verdict = run_check("sast", root, tmp_path / "evidence")
    assert verdict.status == "fail" and "lacks reason" in verdict.summary
