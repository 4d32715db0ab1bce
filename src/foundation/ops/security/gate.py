"""`foundation validate --stage security`: the security and supply-chain release gate (phases 8–12).

Each check writes its evidence under ``<run>/security/<check>/`` and returns a verdict; the checks run side
by side (they mostly wait on scanners and sockets). ``verdicts.json`` and ``report.md`` sum them up. A check
that raises is a failure, never a skip. The gate passes when no check failed and every skipped check was
accepted by the caller (``allow_skipped``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from foundation.ops.security import audit, dast, parity, sast, sbom, secrets_scan, threat_model
from foundation.ops.security.base import FAIL, SKIPPED, Context, Verdict, write_json
from foundation.ops.security.dast_server import DEFAULT_APP
from foundation.ops.stack.report import FAIL as CRITERION_FAIL
from foundation.ops.stack.report import PASS as CRITERION_PASS
from foundation.ops.stack.report import Criterion

# Check name → (criterion id in the report, function). Phase numbers follow the product's release plan.
CHECKS: dict[str, tuple[str, Callable[[Context], Verdict]]] = {
    "sast": ("P8.1", sast.check),
    "dependency-audit": ("P9.1", audit.check),
    "sbom": ("P9.2", sbom.check),
    "dast": ("P10.1", dast.check),
    "secrets": ("P11.1", secrets_scan.check),
    "threat-model": ("P11.2", threat_model.check),
    "pre-commit-parity": ("P12.1", parity.check),
}
SKIPPED_STATUS = "SKIPPED"


@dataclass
class SecurityOptions:
    root: Path = field(default_factory=Path.cwd)
    checks: tuple[str, ...] = tuple(CHECKS)
    allow_skipped: frozenset[str] = frozenset()
    sast_targets: tuple[str, ...] = ("src",)
    bandit_justifications: str = "security/bandit-justifications.yml"
    lock: str = "requirements/runtime.txt"
    audit_allowlist: str = "security/audit-allowlist.yml"
    osv_url: str | None = None
    # When OSV is unreachable: PyPI's project JSON (audit_pypi.py); None turns the fallback off.
    pypi_json_url: str | None = "https://pypi.org/pypi"
    audit_timeout: float = 15.0
    licence_policy: str = "security/licence-policy.yml"
    cache_dir: str = "var/security"
    secrets_allowlist: str = "security/secrets-allowlist.yml"
    threat_model: str = "docs/threat-model.md"
    openapi: str | None = None  # an OpenAPI file instead of `foundation openapi` (tests)
    dast_app: str = DEFAULT_APP
    dast_examples: int = 25
    dast_timeout: float = 900.0
    dast_justifications: str = "security/dast-justifications.yml"
    today: date | None = None
    workers: int = 3


@dataclass
class SecurityResult:
    evidence: Path
    verdicts: list[Verdict]
    allow_skipped: frozenset[str]
    report: Path

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == FAIL]

    @property
    def unaccepted_skips(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == SKIPPED and v.check not in self.allow_skipped]

    @property
    def passed(self) -> bool:
        return not self.failed and not self.unaccepted_skips


def _run_one(name: str, options: SecurityOptions, evidence: Path, echo: Callable[[str], None]) -> Verdict:
    _, function = CHECKS[name]
    folder = evidence / name
    folder.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        root=options.root.resolve(), evidence=folder, options=options, today=options.today or date.today()
    )
    started = time.monotonic()
    try:
        verdict = function(ctx)
    except Exception as exc:  # a crashed check is a failure with its reason, never a pass or a skip
        verdict = Verdict(name, name, FAIL, f"the check crashed: {type(exc).__name__}: {exc}")
    echo(f"{verdict.status.upper():7} {name} ({time.monotonic() - started:.0f} s): {verdict.summary}")
    return verdict


def criteria(verdicts: list[Verdict]) -> list[Criterion]:
    """The verdicts as report rows (PASS / FAIL / SKIPPED) next to the other phases' criteria."""
    rows = []
    for verdict in verdicts:
        status = {"pass": CRITERION_PASS, "fail": CRITERION_FAIL}.get(verdict.status, SKIPPED_STATUS)
        evidence = verdict.summary if verdict.status != SKIPPED else f"skipped: {verdict.reason}"
        rows.append(
            Criterion(
                CHECKS[verdict.check][0], verdict.title, status, evidence, [str(f) for f in verdict.files]
            )
        )
    return rows


def run_gate(options: SecurityOptions, run_dir: Path, echo: Callable[[str], None] = print) -> SecurityResult:
    unknown = [name for name in options.checks if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    run_dir = run_dir.resolve()  # checks run tools in other working directories
    evidence = run_dir / "security"
    evidence.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="security-check") as pool:
        futures = [pool.submit(_run_one, name, options, evidence, echo) for name in options.checks]
        verdicts = [future.result() for future in futures]
    result = SecurityResult(evidence, verdicts, options.allow_skipped, evidence / "report.md")
    write_json(
        evidence / "verdicts.json",
        {
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "passed": result.passed,
            "allowSkipped": sorted(options.allow_skipped),
            "verdicts": [v.as_json(evidence) for v in verdicts],
        },
    )
    from foundation.ops.security.report import write_security_report

    write_security_report(result, run_dir)
    return result
