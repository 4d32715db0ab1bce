"""SAST: bandit over the sources with every severity and confidence collected (``# nosec`` ignored), SARIF
evidence, and ruff's security rules (``S``) as the project's lint runs them.

Threshold: no High finding at all; every Medium finding listed in the justification file (rule id, file, a
fragment of the flagged code and the reason); Low findings are listed in the evidence only. Ruff's ``S``
findings (after the per-line ``# noqa`` justifications) must be zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.ops.security.base import (
    FAIL,
    PASS,
    Context,
    PolicyError,
    Verdict,
    load_entries,
    run,
    tool,
    write_json,
)

TITLE = "SAST: bandit (all severities, SARIF) and ruff S rules"
JUSTIFICATION_FIELDS = ("rule", "file", "code", "reason")


@dataclass
class Finding:
    rule: str
    severity: str
    confidence: str
    file: str
    line: int
    code: str
    message: str

    def matches(self, entry: dict[str, Any]) -> bool:
        return (
            entry["rule"] == self.rule
            and Path(entry["file"]).as_posix() == Path(self.file).as_posix()
            and str(entry["code"]) in self.code
        )


def _relative(name: str, root: Path) -> str:
    try:
        return str(Path(name).resolve().relative_to(root.resolve()))
    except ValueError:
        return name


def sarif_findings(document: dict[str, Any]) -> list[Finding]:
    findings = []
    for run_ in document.get("runs", []):
        for result in run_.get("results", []):
            location = result["locations"][0]["physicalLocation"]
            region = location.get("region", {})
            properties = result.get("properties", {})
            findings.append(
                Finding(
                    rule=result["ruleId"],
                    severity=str(properties.get("issue_severity", "UNDEFINED")).upper(),
                    confidence=str(properties.get("issue_confidence", "UNDEFINED")).upper(),
                    file=location["artifactLocation"]["uri"],
                    line=int(region.get("startLine", 0)),
                    code=region.get("snippet", {}).get("text", ""),
                    message=result.get("message", {}).get("text", ""),
                )
            )
    return findings


def _bandit(ctx: Context, targets: list[str]) -> tuple[list[Finding], list[str], Path]:
    sarif = ctx.evidence / "bandit.sarif"
    cmd = [tool("bandit"), "-r", *targets, "--ignore-nosec", "-f", "sarif", "-o", str(sarif), "-q"]
    proc = run(cmd, ctx.evidence / "bandit.log", cwd=ctx.root, timeout=600)
    if not sarif.is_file():
        raise RuntimeError(f"bandit wrote no SARIF (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    document = json.loads(sarif.read_text(encoding="utf-8"))
    errors = [
        notification.get("message", {}).get("text", "")
        for run_ in document.get("runs", [])
        for invocation in run_.get("invocations", [])
        for notification in invocation.get("toolExecutionNotifications", [])
    ]
    return sarif_findings(document), errors, sarif


def _ruff(ctx: Context, targets: list[str]) -> tuple[list[dict[str, Any]], Path]:
    report = ctx.evidence / "ruff-security.json"
    # The project's own ruff configuration (as `make test` lints), keeping the S rules' findings.
    cmd = [tool("ruff"), "check", "--output-format", "json", "--exit-zero", *targets]
    proc = run(cmd, ctx.evidence / "ruff-security.log", cwd=ctx.root, timeout=300)
    findings = [item for item in json.loads(proc.stdout or "[]") if str(item.get("code", "")).startswith("S")]
    for item in findings:
        item["filename"] = _relative(item["filename"], ctx.root)
    write_json(report, findings)
    return findings, report


def evaluate(
    findings: list[Finding], justifications: list[dict[str, Any]]
) -> tuple[list[Finding], list[Finding], list[tuple[Finding, str]], list[dict[str, Any]]]:
    """(high, unjustified medium, justified medium with reason, stale justifications)."""
    high = [f for f in findings if f.severity == "HIGH"]
    unjustified, justified = [], []
    used: set[int] = set()
    for finding in (f for f in findings if f.severity == "MEDIUM"):
        match = next((i for i, entry in enumerate(justifications) if finding.matches(entry)), None)
        if match is None:
            unjustified.append(finding)
        else:
            used.add(match)
            justified.append((finding, str(justifications[match]["reason"])))
    stale = [entry for i, entry in enumerate(justifications) if i not in used]
    return high, unjustified, justified, stale


def check(ctx: Context) -> Verdict:
    targets = list(ctx.options.sast_targets)
    try:
        justifications = load_entries(
            ctx.path(ctx.options.bandit_justifications), "justifications", JUSTIFICATION_FIELDS
        )
    except PolicyError as exc:
        return Verdict("sast", TITLE, FAIL, str(exc))
    findings, errors, sarif = _bandit(ctx, targets)
    ruff_findings, ruff_report = _ruff(ctx, targets)
    high, unjustified, justified, stale = evaluate(findings, justifications)
    counts = {level: sum(f.severity == level for f in findings) for level in ("HIGH", "MEDIUM", "LOW")}
    summary_file = write_json(
        ctx.evidence / "findings.json",
        {
            "targets": targets,
            "counts": counts,
            "high": [vars(f) for f in high],
            "mediumUnjustified": [vars(f) for f in unjustified],
            "mediumJustified": [{**vars(f), "reason": reason} for f, reason in justified],
            "low": [vars(f) for f in findings if f.severity == "LOW"],
            "staleJustifications": stale,
            "banditErrors": errors,
            "ruffSecurity": ruff_findings,
        },
    )
    problems = []
    if high:
        problems.append(f"{len(high)} High ({', '.join(f'{f.rule} {f.file}:{f.line}' for f in high[:5])})")
    if unjustified:
        listed = ", ".join(f"{f.rule} {f.file}:{f.line}" for f in unjustified[:5])
        problems.append(f"{len(unjustified)} Medium without justification ({listed})")
    if ruff_findings:
        listed = ", ".join(f"{r['code']} {r['filename']}:{r['location']['row']}" for r in ruff_findings[:5])
        problems.append(f"{len(ruff_findings)} ruff S finding(s) ({listed})")
    if errors:
        problems.append(f"bandit could not scan: {'; '.join(errors[:3])}")
    summary = (
        f"bandit: {counts['HIGH']} High, {counts['MEDIUM']} Medium ({len(justified)} justified), "
        f"{counts['LOW']} Low; ruff S: {len(ruff_findings)}"
        + (f"; {len(stale)} stale justification(s)" if stale else "")
    )
    files = [sarif, summary_file, ruff_report]
    if problems:
        return Verdict("sast", TITLE, FAIL, f"{summary} — {'; '.join(problems)}", files)
    return Verdict("sast", TITLE, PASS, summary, files)
