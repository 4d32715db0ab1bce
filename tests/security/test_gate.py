"""`foundation validate --stage security` as a real command: one verdict per check, evidence links in the
report, a skipped check is never a pass (non-zero exit unless explicitly accepted), bad input is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from foundation.ops.perf.server import free_port
from tests.security.conftest import ROOT

CLI = [sys.executable, "-c", "from foundation.cli.main import main; main()"]


def validate(*args: str, output: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDATION_")}
    closed = f"http://127.0.0.1:{free_port()}/v1/query"  # the vulnerability service is unreachable
    cmd = [*CLI, "validate", "--stage", "security", "--output-dir", str(output), "--osv-url", closed, *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def run_dir(output: Path) -> Path:
    (folder,) = [p for p in output.iterdir() if p.is_dir()]
    return folder


def test_a_skipped_check_fails_the_run_unless_accepted(tmp_path: Path) -> None:
    checks = ["--check", "dependency-audit", "--check", "pre-commit-parity"]
    refused = validate(*checks, output=tmp_path / "refused")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "SKIPPED dependency-audit" in refused.stdout and "PASS    pre-commit-parity" in refused.stdout

    accepted = validate(*checks, "--allow-skipped", "dependency-audit", output=tmp_path / "accepted")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    folder = run_dir(tmp_path / "accepted")
    verdicts = json.loads((folder / "security" / "verdicts.json").read_text())
    statuses = {v["check"]: v["status"] for v in verdicts["verdicts"]}
    assert statuses == {"dependency-audit": "skipped", "pre-commit-parity": "pass"}
    report = (folder / "report.md").read_text()
    assert (
        "| P9.1 Dependency audit: pip-audit of the runtime lock | SKIPPED | skipped: vulnerability service"
        in report
    )
    assert "[parity.json](security/pre-commit-parity/parity.json)" in report  # a link to the evidence
    assert "2 passed" not in report and "1 passed, 0 failed, 1 skipped" in report
    assert (folder / "security" / "pre-commit-parity" / "parity.json").is_file()
    assert 'class="skipped"' in (folder / "report.html").read_text()


def test_unknown_checks_and_stages_are_one_error_line(tmp_path: Path) -> None:
    for args in (["--check", "nope"], ["--allow-skipped", "nope"]):
        result = validate(*args, output=tmp_path)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            "error: unknown security check(s) nope; known: sast, dependency-audit, sbom, dast, secrets, "
            "threat-model, pre-commit-parity"
        ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDATION_")}
    result = subprocess.run(
        [*CLI, "validate", "--stage", "x"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1 and result.stderr.startswith(
        "error: --stage must be one of stack, security, all"
    )
