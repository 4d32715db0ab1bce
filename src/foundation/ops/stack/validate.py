"""`foundation validate`: the release-validation report (phase 6 performance + phase 7 observability, and with
``--stage security|all`` the security gate of phases 8–12, foundation.ops.security).

The automated version of the hand-written "Relatório — Etapa 2": every run in its own folder, nothing
overwritten, each criterion PASS/FAIL with links to its evidence. Written in English.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundation.ops.dashboards.prom import Prometheus, PrometheusError, instant_values
from foundation.ops.procs import WaitTimeout, wait_until
from foundation.ops.stack import manager, scorecards
from foundation.ops.stack.config import cli_command
from foundation.ops.stack.report import (
    Criterion,
    PerfRun,
    check,
    criteria_json,
    markdown_table,
    new_run_dir,
    write_json,
)
from foundation.ops.stack.verify import VerifyOptions, VerifyResult, verify

if TYPE_CHECKING:
    from foundation.ops.security.gate import SecurityOptions, SecurityResult

THROUGHPUT_QUERY = "foundation_api_throughput"


@dataclass
class ValidateOptions:
    output_dir: Path = Path("artifacts/validation")
    state_dir: Path = Path("var/stack")
    local_duration: str = "30s"
    ci_duration: str = "30s"
    ci_vus: int = 50
    token: str | None = None
    timeout: float = 45.0
    # "stack" (phases 6–7, the default), "security" (phases 8–12) or "all".
    stage: str = "stack"
    security: SecurityOptions | None = None
    scorecard_tenants: int = scorecards.DEFAULT_LIMIT  # tenants whose scorecard the report shows


STAGES = ("stack", "security", "all")


@dataclass
class ValidateResult:
    run_dir: Path
    report_md: Path
    report_html: Path
    criteria: list[Criterion]
    security: SecurityResult | None = None

    @property
    def passed(self) -> bool:
        """Every phase-6/7 criterion passed, and the security gate (when run) passed: no failure and no
        skipped check the caller did not accept."""
        security_ids = {c.id for c in security_criteria(self.security)} if self.security else set()
        stack_ok = all(item.passed for item in self.criteria if item.id not in security_ids)
        return stack_ok and (self.security is None or self.security.passed)


def _perf(mode: str, args: list[str], perf_dir: Path, run_dir: Path, echo: Callable[[str], None]) -> PerfRun:
    before = {p for p in perf_dir.iterdir()} if perf_dir.is_dir() else set()
    cmd = cli_command("perf", "smoke", "--mode", mode, *args)
    cmd += ["--output-dir", str(perf_dir)]
    log = run_dir / f"perf-{mode}.log"
    echo(f"perf smoke ({mode}): foundation {' '.join(cmd[3:])}")
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=1800)
    new = (
        sorted(
            (
                p
                for p in perf_dir.iterdir()
                if p.is_dir() and p not in before and (p / "foundation-api-throughput.json").is_file()
            ),
            key=lambda p: p.stat().st_mtime,
        )
        if perf_dir.is_dir()
        else []
    )
    found = new[-1] if new else None
    document: dict[str, Any] = {}
    if found:
        document = json.loads((found / "foundation-api-throughput.json").read_text(encoding="utf-8"))
    return PerfRun(mode=mode, exit_code=proc.returncode, run_dir=found, throughput=document, log=log)


def _perf_criteria(runs: list[PerfRun]) -> list[Criterion]:
    criteria: list[Criterion] = []
    expected = ("k6-smoke.json", "foundation-api-throughput.json", "summary.md", "latency.png")
    for index, run in enumerate(runs, start=1):
        files = [
            str(run.run_dir / name) for name in expected if run.run_dir and (run.run_dir / name).is_file()
        ]
        criteria.append(
            check(
                f"P6.{index}a",
                f"Perf smoke ({run.mode}) evidence in its own run folder",
                run.run_dir is not None and len(files) == len(expected),
                f"run {run.run_dir.name if run.run_dir else '(none)'}: {len(files)}/{len(expected)} files",
                files or [str(run.log)],
            )
        )
        doc = run.throughput
        status = doc.get("status", "missing")
        evidence = (
            f"status {status} (decided by {doc.get('decidedBy')}), throughput {doc.get('throughput')} req/s, "
            f"p95 {doc.get('p95Ms')} ms, p99 {doc.get('p99Ms')} ms, errors {doc.get('errorRate')}, "
            f"{doc.get('vus')} VU, {doc.get('totalRequests')} requests in {doc.get('durationSeconds')} s; "
            f"exit {run.exit_code}"
        )
        ok = status in ("ok", "warning") and run.exit_code == 0
        criteria.append(
            check(
                f"P6.{index}b", f"Perf smoke ({run.mode}) verdict not critical", ok, evidence, [str(run.log)]
            )
        )
    distinct = len({r.run_dir for r in runs if r.run_dir}) == len(runs)
    criteria.append(
        check(
            "P6.3",
            "Runs kept apart (nothing overwritten)",
            distinct,
            ", ".join(r.run_dir.name for r in runs if r.run_dir),
        )
    )
    return criteria


def _throughput_in_prometheus(
    prometheus_url: str, modes: list[str], run_dir: Path, timeout: float
) -> Criterion:
    body: dict[str, Any] = {}
    seen: set[str] = set()

    def published() -> bool:
        nonlocal body, seen
        try:
            body = prom.query(THROUGHPUT_QUERY)
            seen = {labels.get("mode", "") for labels, _ in instant_values(body)}
        except PrometheusError as exc:
            body = {"status": "error", "error": str(exc)}
        return set(modes) <= seen

    with Prometheus(prometheus_url) as prom, contextlib.suppress(WaitTimeout):
        wait_until(published, timeout, 1.0, what="perf throughput in Prometheus")
    file = run_dir / "query-foundation-api-throughput.json"
    write_json(file, {"query": THROUGHPUT_QUERY, **body})
    values = ", ".join(f"{lab.get('mode')}={v:g}" for lab, v in instant_values(body)) if seen else "no series"
    return check(
        "P6.4",
        "Perf throughput published over OTLP reached Prometheus",
        set(modes) <= seen,
        f"{THROUGHPUT_QUERY}: {values}",
        [str(file)],
    )


def _grafana_criterion() -> Criterion | None:
    from foundation.ops.dashboards.grafana import DASHBOARD_FILE, PROVISIONING_DIR, sync
    from foundation.ops.dashboards.panels import DATASOURCE_UID

    if not PROVISIONING_DIR.is_dir():
        return None
    result = sync(PROVISIONING_DIR, check=True)
    path = (PROVISIONING_DIR / DASHBOARD_FILE).resolve()
    try:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return check("P7.8", "Grafana provisioning current and valid", False, f"{path}: {exc}", [str(path)])
    ok = not result.stale and uids == {DATASOURCE_UID}
    panels = len(dashboard["panels"])
    evidence = f"{panels} panels, datasource uid(s) {sorted(uids)}, stale files: {len(result.stale)}"
    return check("P7.8", "Grafana provisioning current and valid", ok, evidence, [str(path)])


def _security(options: ValidateOptions, run_dir: Path, echo: Callable[[str], None]) -> SecurityResult:
    from foundation.ops.security.gate import SecurityOptions, run_gate

    echo("security gate (phases 8–12)")
    return run_gate(options.security or SecurityOptions(), run_dir, echo=echo)


def _observe(
    options: ValidateOptions, urls: dict[str, str], run_dir: Path, echo: Callable[[str], None]
) -> tuple[VerifyResult, list[Criterion]]:
    """Phase 7: `observe verify` into ``<run>/observability/`` and the Grafana provisioning check."""
    observed = verify(
        VerifyOptions(
            prometheus=urls["prometheus"],
            collector=urls["collector"],
            api=urls["api"],
            output_dir=run_dir / "observability",
            token=options.token,
            timeout=options.timeout,
        ),
        echo=echo,
    )
    phase7 = list(observed.criteria)
    grafana = _grafana_criterion()
    if grafana:
        phase7.append(grafana)
        echo(f"{grafana.status} {grafana.id} {grafana.criterion}: {grafana.evidence}")
    return observed, phase7


def validate(options: ValidateOptions, echo: Callable[[str], None] = print) -> ValidateResult:
    if options.stage not in STAGES:
        raise ValueError(f"unknown stage {options.stage!r}; use one of {', '.join(STAGES)}")
    run_dir = new_run_dir(options.output_dir, "validate")
    started = datetime.now(UTC)
    if options.stage == "security":
        from foundation.ops.stack.validate_report import write_security_only

        security = _security(options, run_dir, echo)
        md, page = write_security_only(run_dir, started, security)
        rows = security_criteria(security)
        write_json(run_dir / "criteria.json", criteria_json(rows))
        return ValidateResult(
            run_dir=run_dir, report_md=md, report_html=page, criteria=rows, security=security
        )
    stack = manager.running(options.state_dir.resolve())
    if stack is None:
        echo("stack not running: starting it")
        stack = manager.up(manager.UpOptions(state_dir=options.state_dir), echo=echo)
    urls = {name: c.url.rstrip("/") for name, c in stack.components.items()}
    perf_dir = run_dir / "perf"
    common = ["--base-url", urls["api"], "--otlp-endpoint", urls["collector"]]
    runs = [
        _perf("local", ["--duration", options.local_duration, *common], perf_dir, run_dir, echo),
        _perf(
            "ci",
            ["--vus", str(options.ci_vus), "--duration", options.ci_duration, *common],
            perf_dir,
            run_dir,
            echo,
        ),
    ]
    phase6 = _perf_criteria(runs)
    phase6.append(_throughput_in_prometheus(urls["prometheus"], ["local", "ci"], run_dir, options.timeout))
    observed, phase7 = _observe(options, urls, run_dir, echo)
    for item in phase6:
        echo(f"{item.status} {item.id} {item.criterion}: {item.evidence}")
    from foundation.ops.stack.validate_report import write_reports

    cards = scorecards.collect(
        urls["api"],
        urls["prometheus"],
        run_dir,
        token=options.token,
        limit=options.scorecard_tenants,
        timeout=options.timeout,
    )
    gate = _security(options, run_dir, echo) if options.stage == "all" else None
    md, html_path = write_reports(run_dir, started, urls, runs, phase6, phase7, observed, gate, cards)
    rows = phase6 + phase7 + (security_criteria(gate) if gate else [])
    write_json(run_dir / "criteria.json", criteria_json(rows))
    return ValidateResult(run_dir=run_dir, report_md=md, report_html=html_path, criteria=rows, security=gate)


def security_criteria(security: SecurityResult) -> list[Criterion]:
    from foundation.ops.security.gate import criteria

    return criteria(security.verdicts)


__all__ = ["PerfRun", "ValidateOptions", "ValidateResult", "markdown_table", "validate"]
