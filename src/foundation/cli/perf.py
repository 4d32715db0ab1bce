"""`foundation perf`: performance smoke of the API (smoke), list of runs (runs), comparison (compare).

locust, matplotlib and the OTLP exporter are imported inside the commands only: `foundation --help` never
loads them (locust monkey-patches the standard library on import).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from foundation.cli.errors import fail
from foundation.cli.extras import requires_extra

if TYPE_CHECKING:
    from foundation.ops.perf.smoke import SmokeConfig

app = typer.Typer(
    name="perf",
    help="Performance smoke of the API with per-run evidence, list and comparison of runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_OUTPUT_DIR = Path("artifacts/perf")


@app.command()
@requires_extra("ops", "foundation perf smoke")
def smoke(
    mode: str = typer.Option("local", "--mode", help="local (1 VU, 30 s) or ci (50 VUs, 30 s)."),
    vus: int | None = typer.Option(None, "--vus", help="Virtual users [env FOUNDATION_PERF_VUS]."),
    duration: str | None = typer.Option(
        None, "--duration", help="Load duration: 30s, 1m30s, 500ms... [env FOUNDATION_PERF_DURATION]."
    ),
    think_time: str = typer.Option("1s", "--think-time", help="Pause of each VU between iterations."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Drive an existing server instead of starting a private one."
    ),
    tenant: str = typer.Option("tenant-alfa", "--tenant", help="Tenant slug or UUID."),
    otlp_endpoint: str | None = typer.Option(
        None,
        "--otlp-endpoint",
        help="OTLP/HTTP base URL for the throughput metric [env OTEL_EXPORTER_OTLP_ENDPOINT].",
    ),
    output_dir: Path = typer.Option(DEFAULT_OUTPUT_DIR, "--output-dir", help="Folder of the run folders."),
    fail_on: str | None = typer.Option(
        None, "--fail-on", help="Exit 1 when the verdict reaches warning or critical (ci: critical always)."
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="FOUNDATION_TOKEN",
        help="Bearer token sent as Authorization [env FOUNDATION_TOKEN].",
    ),
    throughput_critical: float | None = typer.Option(
        None,
        "--throughput-critical",
        help="req/s below which the run is critical [env FOUNDATION_PERF_THROUGHPUT_CRITICAL].",
    ),
    throughput_warning: float | None = typer.Option(
        None,
        "--throughput-warning",
        help="req/s below which the run is a warning [env FOUNDATION_PERF_THROUGHPUT_WARNING].",
    ),
) -> None:
    """Load the API with N virtual users; write the run's evidence and an ok/warning/critical verdict."""
    from foundation.ops.perf.options import OptionError, build_config

    try:
        config = build_config(
            mode=mode,
            vus=vus,
            duration=duration,
            think_time=think_time,
            base_url=base_url,
            tenant=tenant,
            otlp_endpoint=otlp_endpoint,
            output_dir=output_dir,
            fail_on=fail_on,
            token=token,
            throughput_critical=throughput_critical,
            throughput_warning=throughput_warning,
        )
    except OptionError as exc:
        fail(str(exc), 2)
    _run_smoke(config)


def _run_smoke(config: SmokeConfig) -> NoReturn:
    from rich.console import Console

    from foundation.ops.perf.smoke import SmokeError, run_smoke

    try:
        outcome = run_smoke(config, Console(stderr=True))
    except SmokeError as exc:
        fail(str(exc), 1)
    _print_outcome(outcome)
    raise typer.Exit(outcome.exit_code)


def _print_outcome(outcome: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    d = outcome.document
    colour = {"ok": "green", "warning": "yellow", "critical": "red"}[d["status"]]
    table = Table(title=f"perf smoke {d['runId']}")
    table.add_column("endpoint")
    for column in ("requests", "req/s", "p95 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for name, e in outcome.k6["endpoints"].items():
        table.add_row(
            name, str(e["count"]), f"{e['rate']:.2f}", f"{e['p95']:.1f}", f"{e['p99']:.1f}", str(e["errors"])
        )
    table.add_row(
        "[bold]total[/bold]",
        str(d["totalRequests"]),
        f"{d['throughput']:.2f}",
        f"{d['p95Ms']:.1f}",
        f"{d['p99Ms']:.1f}",
        f"{round(d['errorRate'] * d['totalRequests'])} ({d['errorRate'] * 100:.2f} %)",
    )
    console = Console()
    console.print(table)
    t = d["thresholds"]
    console.print(
        f"verdict: [bold {colour}]{d['status']}[/] (decided by {d['decidedBy']}); "
        f"throughput {d['throughput']:.2f} req/s "
        f"over {d['durationSeconds']:.1f} s (critical < {t['critical']:.2f}, warning < {t['warning']:.2f})"
    )
    for warning in outcome.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"evidence: {outcome.run_dir}")


@app.command()
def runs(
    output_dir: Path = typer.Option(DEFAULT_OUTPUT_DIR, "--output-dir", help="Folder of the run folders."),
) -> None:
    """List the recorded runs (oldest first) with their full run ids."""
    from rich.console import Console
    from rich.table import Table

    from foundation.ops.perf.artifacts import list_runs

    found = list_runs(output_dir)
    if not found:
        typer.echo(f"no runs in {output_dir}")
        return
    table = Table(title=f"perf runs in {output_dir}")
    for column in ("run id", "mode", "VUs", "req/s", "p95 ms", "error rate", "status", "decided by"):
        numeric = column in ("VUs", "req/s", "p95 ms", "error rate")
        table.add_column(column, no_wrap=column == "run id", justify="right" if numeric else "left")
    for run in found:
        table.add_row(
            str(run["path"]),
            str(run["mode"]),
            str(run["vus"]),
            _num(run["throughput"], ".2f"),
            _num(run["p95Ms"], ".1f"),
            _num(run["errorRate"] * 100 if isinstance(run["errorRate"], int | float) else None, ".2f", " %"),
            str(run["status"]),
            str(run["decidedBy"]),
        )
    Console(width=max(160, Console().width)).print(table)


def _num(value: Any, spec: str, suffix: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:{spec}}{suffix}"


@app.command()
def compare(
    run_a: str = typer.Argument(..., help="Run id (under --output-dir) or path to a run folder."),
    run_b: str = typer.Argument(..., help="Run id (under --output-dir) or path to a run folder."),
    output_dir: Path = typer.Option(DEFAULT_OUTPUT_DIR, "--output-dir", help="Folder of the run folders."),
) -> None:
    """Show every figure of two runs side by side with the delta and delta %."""
    from rich.console import Console
    from rich.table import Table

    from foundation.ops.perf.compare import RunNotFound, compare_runs, resolve_run

    try:
        a_dir, b_dir = resolve_run(run_a, output_dir), resolve_run(run_b, output_dir)
        rows = compare_runs(a_dir, b_dir)
    except RunNotFound as exc:
        fail(str(exc), 2)
    except (OSError, ValueError) as exc:
        fail(f"cannot read run: {exc}", 1)
    table = Table(title=f"compare {a_dir.name} (A) vs {b_dir.name} (B)")
    table.add_column("figure")
    for column in ("A", "B", "delta", "delta %"):
        table.add_column(column, justify="right")
    for row in rows:
        delta = "" if row.delta is None else f"{row.delta:+,.3f}".rstrip("0").rstrip(".")
        pct = "" if row.delta_pct is None else f"{row.delta_pct:+.1f} %"
        changed = row.delta is None and row.a != row.b
        table.add_row(row.figure, _cell(row.a), _cell(row.b), delta or ("changed" if changed else ""), pct)
    Console(width=max(120, Console().width)).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="perf")
