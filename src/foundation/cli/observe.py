"""`foundation observe verify` (logic in foundation.ops.stack)."""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.cli.errors import fail


def _stack_urls(state_dir: Path) -> dict[str, str]:
    from foundation.ops.stack.state import load

    current = load(state_dir.resolve())
    if current is None:
        return {}
    return {name: component.url.rstrip("/") for name, component in current.components.items()}


def register(root: typer.Typer) -> None:
    app = typer.Typer(help="Observability acceptance checks against a running stack.", no_args_is_help=True)

    @app.command("verify")
    def verify_command(
        prometheus: str | None = typer.Option(None, help="Prometheus URL (default: the running stack's)."),
        collector: str | None = typer.Option(None, help="Collector URL (default: the running stack's)."),
        api: str | None = typer.Option(None, help="API base URL (default: the running stack's)."),
        output_dir: Path = typer.Option(
            Path("artifacts/observability"), help="Evidence root; one folder per run."
        ),
        token: str | None = typer.Option(
            None, envvar="FOUNDATION_TOKEN", help="Bearer token when auth is on."
        ),
        state_dir: Path = typer.Option(
            Path("var/stack"), "--state-dir", help="Stack state (for the defaults)."
        ),
        timeout: float = typer.Option(45.0, help="Seconds to wait for each polled criterion."),
    ) -> None:
        """Phase-7 checks; writes artifacts/observability/<run-id>/report.md. Exit 1 when any check fails."""
        from foundation.ops.stack.verify import VerifyOptions, verify

        urls = _stack_urls(state_dir)
        prometheus = prometheus or urls.get("prometheus")
        collector = collector or urls.get("collector")
        api = api or urls.get("api")
        if not (prometheus and collector and api):
            fail("no running stack; run `foundation stack up` or pass --prometheus/--collector/--api")
        options = VerifyOptions(
            prometheus=prometheus,
            collector=collector,
            api=api,
            output_dir=output_dir,
            token=token,
            timeout=timeout,
        )
        result = verify(options, echo=typer.echo)
        typer.echo(f"report: {result.report}")
        if not result.passed:
            raise typer.Exit(1)

    root.add_typer(app, name="observe")
