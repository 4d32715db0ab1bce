"""`foundation validate --stage security` as a real command: one verdict per check, evidence links in the
report, a skipped check is never a pass (non-zero exit unless explicitly accepted), bad input is one line."""

from __future__ import annotations

import json
import os
import shutil
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

    # A relative --output-dir (as scripts/test.sh passes), resolved against the repository root.
    relative = Path("var") / "test" / f"gate-{tmp_path.name}"
    try:
        accepted = validate(*checks, "--allow-skipped", "dependency-audit", output=relative)
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        shutil.copytree(ROOT / relative, tmp_path / "accepted")
    finally:
        shutil.rmtree(ROOT / relative, ignore_errors=True)
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


def test_the_release_report_shows_security_next_to_phases_6_and_7(tmp_path: Path) -> None:
    """`--stage all`: the phase 6–7 report gains the security section, its verdicts and evidence links."""
    from datetime import UTC, datetime

    from foundation.ops.security.base import Verdict
    from foundation.ops.security.gate import SecurityResult
    from foundation.ops.stack.report import check
    from foundation.ops.stack.validate import PerfRun, ValidateResult, security_criteria
    from foundation.ops.stack.validate_report import write_reports
    from foundation.ops.stack.verify import VerifyResult

    run = tmp_path / "20260101T000000Z-validate-0000"
    evidence = run / "security" / "sast"
    evidence.mkdir(parents=True)
    (evidence / "bandit.sarif").write_text("{}")
    verdicts = [
        Verdict("sast", "SAST", "pass", "0 High", [evidence / "bandit.sarif"]),
        Verdict("dependency-audit", "Audit", "skipped", "offline", [], reason="service unreachable"),
    ]
    security = SecurityResult(run / "security", verdicts, frozenset(), run / "security" / "report.md")
    observed = VerifyResult(run / "observability", run / "observability" / "report.md", [])
    perf = PerfRun("local", 0, None, {}, run / "perf-local.log")
    phase6 = [check("P6.3", "Runs kept apart", True, "ok")]
    md, page = write_reports(
        run, datetime.now(UTC), {"api": "http://127.0.0.1:1"}, [perf], phase6, [], observed, security
    )
    text = md.read_text()
    assert text.index("## Phase 6") < text.index("## Phase 7") < text.index("## Phases 8–12")
    assert "| P8.1 SAST | PASS | 0 High ([bandit.sarif](security/sast/bandit.sarif)) |" in text
    assert "| P9.1 Audit | SKIPPED | skipped: service unreachable |" in text
    assert "Security gate: **FAIL**" in text  # a skip nobody accepted is not a pass
    assert 'href="security/sast/bandit.sarif"' in page.read_text()
    result = ValidateResult(run, md, page, phase6 + security_criteria(security), security)
    assert not result.passed
    accepted = SecurityResult(run / "security", verdicts, frozenset({"dependency-audit"}), run / "r.md")
    assert ValidateResult(run, md, page, phase6 + security_criteria(accepted), accepted).passed
