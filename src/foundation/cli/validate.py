"""`foundation validate`: the release-validation report (logic in foundation.ops.stack and .security)."""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.cli.errors import fail
from foundation.cli.extras import requires_extra

STAGE_HELP = (
    "stack: phases 6–7 (perf smoke + observability against the native stack); security: phases 8–12 "
    "(SAST, dependency audit, SBOM, DAST, secrets, threat model, pre-commit/CI parity); "
    "all: both, one report."
)


def register(root: typer.Typer) -> None:
    root.command("validate")(requires_extra("ops", "foundation validate")(validate_command))


def validate_command(
    stage: str = typer.Option("stack", help=STAGE_HELP),
    check: list[str] = typer.Option(
        [], "--check", help="Security checks to run (repeatable; default: all of them)."
    ),
    allow_skipped: list[str] = typer.Option(
        [],
        "--allow-skipped",
        help="A security check that may end `skipped` without failing the run (repeatable), e.g. "
        "dependency-audit where the vulnerability service is unreachable. Skipped is still never a pass.",
    ),
    osv_url: str | None = typer.Option(
        None, envvar="FOUNDATION_OSV_URL", help="OSV-compatible vulnerability service (a mirror)."
    ),
    pypi_json_url: str = typer.Option(
        "https://pypi.org/pypi",
        envvar="FOUNDATION_PYPI_JSON_URL",
        help="PyPI JSON API the dependency audit falls back to when the OSV service is unreachable (it "
        "audits the packages pinned at their latest release); 'off' turns the fallback off.",
    ),
    dast_examples: int = typer.Option(25, min=1, help="Schemathesis cases per operation (DAST)."),
    output_dir: Path = typer.Option(Path("artifacts/validation"), help="Report root; one folder per run."),
    local_duration: str = typer.Option("30s", help="Duration of the local-mode perf smoke."),
    ci_duration: str = typer.Option("30s", help="Duration of the ci-mode perf smoke."),
    ci_vus: int = typer.Option(50, min=1, help="Virtual users of the ci-mode perf smoke."),
    token: str | None = typer.Option(None, envvar="FOUNDATION_TOKEN", help="Bearer token when auth is on."),
    state_dir: Path = typer.Option(Path("var/stack"), "--state-dir", help="Stack state dir."),
    timeout: float = typer.Option(45.0, help="Seconds to wait for each polled criterion."),
    scorecard_tenants: int = typer.Option(
        20, min=1, help="Tenants whose scorecard the report lists (the first ones by slug)."
    ),
) -> None:
    """Release validation: one report with PASS/FAIL/SKIPPED per criterion and links to its evidence.

    Exit 1 when a criterion fails or a security check is skipped without --allow-skipped."""
    from foundation.ops.security.gate import CHECKS, SecurityOptions
    from foundation.ops.stack.manager import StackError
    from foundation.ops.stack.validate import STAGES, ValidateOptions, validate

    if stage not in STAGES:
        fail(f"--stage must be one of {', '.join(STAGES)} (got {stage!r})")
    unknown = sorted({*check, *allow_skipped} - set(CHECKS))
    if unknown:
        fail(f"unknown security check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    security = SecurityOptions(
        checks=tuple(check) or tuple(CHECKS),
        allow_skipped=frozenset(allow_skipped),
        osv_url=osv_url,
        pypi_json_url=None if pypi_json_url.strip().lower() in ("", "off") else pypi_json_url,
        dast_examples=dast_examples,
    )
    options = ValidateOptions(
        output_dir=output_dir,
        state_dir=state_dir,
        local_duration=local_duration,
        ci_duration=ci_duration,
        ci_vus=ci_vus,
        token=token,
        timeout=timeout,
        stage=stage,
        security=security,
        scorecard_tenants=scorecard_tenants,
    )
    try:
        result = validate(options, echo=typer.echo)
    except StackError as exc:
        fail(str(exc))
    typer.echo(f"report: {result.report_md}")
    typer.echo(f"report: {result.report_html}")
    if not result.passed:
        raise typer.Exit(1)
