"""`foundation stack up|down|status|dashboards` (the logic lives in foundation.ops.stack)."""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.cli.errors import fail

STATE_DIR_OPTION = typer.Option(Path("var/stack"), "--state-dir", help="PID files, state JSON, logs, data.")


app = typer.Typer(
    help="Native observability stack: collector, API, Prometheus, live dashboard.", no_args_is_help=True
)


@app.command("up")
def up(
    state_dir: Path = STATE_DIR_OPTION,
    api_port: int = typer.Option(8000, help="Preferred API port (a free one is picked when taken)."),
    collector_port: int = typer.Option(4318, help="Preferred collector (OTLP/HTTP) port."),
    prometheus_port: int = typer.Option(9090, help="Preferred Prometheus port."),
    dashboard_port: int = typer.Option(3000, help="Preferred live dashboard port."),
    api_workers: int = typer.Option(1, min=1, help="API worker processes."),
    strict_rate_limits: bool = typer.Option(
        False,
        "--strict-rate-limits",
        help="Keep the API's default rate limits (relaxed by default for load).",
    ),
    timeout: float = typer.Option(90.0, help="Seconds to wait for each component and the targets."),
) -> None:
    """Start the stack in the background; returns when every Prometheus target is up."""
    from foundation.ops.stack.manager import StackError, UpOptions
    from foundation.ops.stack.manager import up as stack_up

    options = UpOptions(
        state_dir=state_dir,
        api_port=api_port,
        collector_port=collector_port,
        prometheus_port=prometheus_port,
        dashboard_port=dashboard_port,
        api_workers=api_workers,
        relaxed_rate_limits=not strict_rate_limits,
        timeout=timeout,
    )
    try:
        stack_up(options, echo=typer.echo)
    except StackError as exc:
        fail(str(exc))


@app.command("down")
def down(state_dir: Path = STATE_DIR_OPTION) -> None:
    """Stop only the processes `stack up` started (PID and command line checked)."""
    from foundation.ops.stack.manager import down as stack_down

    stack_down(state_dir, echo=typer.echo)


@app.command("status")
def status(state_dir: Path = STATE_DIR_OPTION) -> None:
    """Table of components, PIDs, ports, URLs and health."""
    from rich.console import Console
    from rich.table import Table

    from foundation.ops.stack.manager import status as stack_status

    rows = stack_status(state_dir)
    if not rows:
        typer.echo("stack not running (no state file)")
        raise typer.Exit(1)
    table = Table(title="IABank Foundation stack")
    for column in ("component", "pid", "port", "url", "health"):
        table.add_column(column)
    for row in rows:
        colour = {"healthy": "green", "unhealthy": "yellow"}.get(str(row["health"]), "red")
        table.add_row(
            *(str(row[c]) for c in ("component", "pid", "port", "url")), f"[{colour}]{row['health']}[/]"
        )
    Console().print(table)
    if any(row["health"] != "healthy" for row in rows):
        raise typer.Exit(1)


@app.command("dashboards")
def dashboards(
    check: bool = typer.Option(False, "--check", help="Exit 1 when the committed files are stale."),
    provisioning_dir: Path = typer.Option(
        Path("infra/grafana/provisioning"), help="Grafana provisioning dir."
    ),
) -> None:
    """Generate the Grafana provisioning (datasource + dashboard) from the panel definitions."""
    from foundation.ops.dashboards.grafana import sync

    result = sync(provisioning_dir, check=check)
    if check:
        for path in result.stale:
            typer.echo(f"stale: {path}", err=True)
        if result.stale:
            fail("Grafana provisioning is stale; run `foundation stack dashboards`")
        typer.echo("Grafana provisioning is current")
        return
    for path in result.written:
        typer.echo(f"wrote {path}")
    if not result.written:
        typer.echo("Grafana provisioning already current")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="stack")
