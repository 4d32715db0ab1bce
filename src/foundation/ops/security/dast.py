"""DAST: the API as a real process in its production profile with JWT on (dast_server.py), attacked through
its own OpenAPI document.

1. schemathesis with every check (``--checks all``, plus the security-header hook of dast_hooks.py) and both
   positive and negative data (``--mode all``), with a platform token; path and header tenant ids are fixed
   to tenant-alfa so requests reach the handlers (the probes vary them instead).
2. The targeted probes of dast_probes.py.

Fails on any 5xx, cross-tenant read, missing security header or leaked internals, on a schemathesis run that
errored or tested nothing (run_problems), and on any other schemathesis failure unless
``security/dast-justifications.yml`` explains it (check code, operation, reason).
Findings are listed by endpoint in ``findings-by-endpoint.json`` and ``.md``.
"""

from __future__ import annotations

import json
import shutil
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
from foundation.ops.security.dast_probes import run_probes
from foundation.ops.security.dast_server import ALFA, Target, TargetError, start

TITLE = "DAST: production profile + JWT, schemathesis (all checks, negative data) and probes"
JUSTIFICATION_FIELDS = ("code", "operation", "reason")
# Never acceptable, whatever a justification says.
# ST101 a 5xx, ST401 authentication ignored, ST402 one user's object returned to another, ST901 the gate's own
# security-header and leak check (dast_hooks.py).
NEVER_JUSTIFIED = {"ST101", "ST401", "ST402", "ST901"}


def _config(evidence: Path, target: Target, examples: int) -> Path:
    config = evidence / "schemathesis.toml"
    config.write_text(
        "\n".join(
            [
                'hooks = "foundation.ops.security.dast_hooks"',
                # One worker: with two, Hypothesis parsed lambdas with `ast` in both threads and CPython 3.11
                # raised "AST constructor recursion depth mismatch" (SystemError): an operation errored.
                "workers = 1",
                f"seed = {20261206}",
                "[generation]",
                'mode = "all"',
                f"max-examples = {examples}",
                "deterministic = true  # the same cases every run: a verdict that changes means the API did",
                "allow-x00 = false  # NUL is refused with a documented 400 on every input",
                "[parameters]",
                f'"path.tenantId" = "{ALFA}"',
                f'"header.X-Tenant-Id" = "{ALFA}"',
                "[headers]",
                f'Authorization = "Bearer {target.tokens["platform"]}"',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return config


def _schemathesis(ctx: Context, target: Target) -> dict[str, Any]:
    reports = ctx.evidence / "schemathesis"
    shutil.rmtree(reports, ignore_errors=True)
    config = _config(ctx.evidence, target, ctx.options.dast_examples)
    cmd = [
        tool("schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{target.base_url}/openapi.json",
        "--checks",
        "all",
        "--no-shrink",
        "--report",
        "json,junit",
        "--report-dir",
        str(reports),
        "--report-json-path",
        str(reports / "report.json"),
        "--report-junit-path",
        str(reports / "junit.xml"),
        "--request-timeout",
        "30",
    ]
    run(cmd, ctx.evidence / "schemathesis.log", cwd=ctx.evidence, timeout=ctx.options.dast_timeout)
    report_path = reports / "report.json"
    if not report_path.is_file():
        raise RuntimeError("schemathesis wrote no report (see schemathesis.log)")
    # The generated config holds a token: keep the evidence without it.
    config.write_text(config.read_text(encoding="utf-8").replace(target.tokens["platform"], "<token>"))
    document: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    return document


def _schemathesis_findings(
    report: dict[str, Any], justifications: list[dict[str, Any]]
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    findings: dict[str, list[dict[str, Any]]] = {}
    accepted = []
    for failure in report.get("failures", []):
        for operation in failure.get("operations", []):
            item = {
                "probe": f"schemathesis:{failure.get('code')}",
                "detail": f"{failure.get('title')} ({failure.get('count')} case(s), "
                f"severity {failure.get('severity')})",
                "request": "see schemathesis/junit.xml",
                "status": None,
            }
            entry = next(
                (
                    e
                    for e in justifications
                    if e["code"] == failure.get("code")
                    and e["operation"] in (operation, "*")
                    and failure.get("code") not in NEVER_JUSTIFIED
                ),
                None,
            )
            if entry is None:
                findings.setdefault(operation, []).append(item)
            else:
                accepted.append({**item, "operation": operation, "reason": entry["reason"]})
    for problem in run_problems(report):
        findings.setdefault("(schemathesis)", []).append(
            {
                "probe": "schemathesis:run",
                "detail": problem,
                "request": "see schemathesis.log",
                "status": None,
            }
        )
    return findings, accepted


def run_problems(report: dict[str, Any]) -> list[str]:
    """Why schemathesis's run cannot be trusted: it did not finish, a hook or the schema failed to load (the
    header/leak hook would then check nothing), an operation or test case errored, or nothing was tested.
    A run with such errors is a failure, never a pass with fewer checks."""
    problems = []
    if not report.get("complete", False):
        problems.append(f"the run did not complete (stop reason: {report.get('stop_reason')})")
    errors = report.get("errors") or []
    if errors:
        problems.append("errors: " + ", ".join(f"{e.get('title')} ×{e.get('count')}" for e in errors[:5]))
    operations = report.get("operations") or {}
    if not operations.get("tested"):
        problems.append("no operation was tested")
    if operations.get("errored"):
        problems.append(f"{operations['errored']} operation(s) errored")
    errored_cases = (report.get("test_cases") or {}).get("errored")
    if errored_cases:
        problems.append(f"{errored_cases} test case(s) errored")
    return problems


def _markdown(findings: dict[str, list[dict[str, Any]]], accepted: list[dict[str, Any]]) -> str:
    lines = ["# DAST findings by endpoint", ""]
    if not findings:
        lines.append("No finding.")
    for endpoint in sorted(findings):
        lines += ["", f"## {endpoint}", "", "| probe | status | detail | request |", "|---|---|---|---|"]
        for item in findings[endpoint]:
            cells = [str(item["probe"]), str(item["status"]), item["detail"], item["request"]]
            lines.append(
                "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ")[:300] for c in cells) + " |"
            )
    if accepted:
        lines += ["", "## Accepted schemathesis findings (security/dast-justifications.yml)", ""]
        lines += [f"- {a['operation']}: {a['probe']} — {a['reason']}" for a in accepted]
    return "\n".join(lines) + "\n"


def check(ctx: Context) -> Verdict:
    try:
        justifications = load_entries(
            ctx.path(ctx.options.dast_justifications), "accept", JUSTIFICATION_FIELDS
        )
    except PolicyError as exc:
        return Verdict("dast", TITLE, FAIL, str(exc))
    try:
        target = start(ctx.evidence / "target", app=ctx.options.dast_app)
    except TargetError as exc:
        return Verdict("dast", TITLE, FAIL, f"cannot start the API: {exc}", [])
    try:
        import httpx

        openapi = httpx.get(f"{target.base_url}/openapi.json", timeout=30).json()
        write_json(ctx.evidence / "openapi.json", openapi)
        report = _schemathesis(ctx, target)
        probe_findings, probed, requests = run_probes(target.base_url, target.tokens, openapi)
        alive = target.alive()
    finally:
        target.stop()
        # No signing key or database left in the evidence (the public JWKS stays).
        (ctx.evidence / "target" / "auth" / "private.pem").unlink(missing_ok=True)
        (ctx.evidence / "target" / "dast.db").unlink(missing_ok=True)
    findings, accepted = _schemathesis_findings(report, justifications)
    for endpoint, items in probe_findings.items():
        findings.setdefault(endpoint, []).extend(items)
    if not alive:
        findings.setdefault("(server)", []).append(
            {
                "probe": "liveness",
                "detail": "the API process died during the run",
                "request": "",
                "status": None,
            }
        )
    by_endpoint = write_json(
        ctx.evidence / "findings-by-endpoint.json", {"findings": findings, "accepted": accepted}
    )
    markdown = ctx.evidence / "findings-by-endpoint.md"
    markdown.write_text(_markdown(findings, accepted), encoding="utf-8")
    cases = report.get("test_cases", {}).get("generated", 0)
    count = sum(len(v) for v in findings.values())
    summary = (
        f"schemathesis: {report.get('operations', {}).get('tested', 0)} operations, {cases} cases, "
        f"{len(report.get('errors', []))} tool error(s); probes: {probed} operations, {requests} requests; "
        f"{count} finding(s), {len(accepted)} accepted"
    )
    files = [markdown, by_endpoint, ctx.evidence / "schemathesis" / "report.json", target.log]
    if findings:
        worst = ", ".join(
            f"{e}: {v[0]['probe']} {v[0]['detail'][:80]}" for e, v in list(findings.items())[:4]
        )
        return Verdict("dast", TITLE, FAIL, f"{summary} — {worst}", files)
    return Verdict("dast", TITLE, PASS, summary, files)
