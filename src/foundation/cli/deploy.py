"""`foundation deploy render`: the Kubernetes files generated from the repository's sources."""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.cli.errors import fail


def register(root: typer.Typer) -> None:
    app = typer.Typer(help="Kubernetes deployment (deploy/kubernetes, docs/deploy-kubernetes.md).")

    @app.callback()
    def _group() -> None:
        """Kubernetes deployment files."""

    @app.command("render")
    def render(
        check: bool = typer.Option(False, "--check", help="Exit 1 when a committed file differs."),
        root_dir: Path = typer.Option(Path("."), "--root", help="The repository checkout."),
        output_dir: Path | None = typer.Option(
            None, help="Where to write [default: <root>/deploy/kubernetes/base/generated]."
        ),
    ) -> None:
        """Generate the collector ConfigMap source, the PrometheusRule and the Grafana dashboard."""
        from foundation.ops import deploy

        try:
            result = deploy.sync(root_dir, output_dir, check=check)
        except (OSError, ValueError) as exc:
            fail(f"cannot render the deployment files: {exc}")
        if check:
            for path in result.stale:
                typer.echo(f"stale: {path}", err=True)
            if result.stale:
                fail("generated deployment files are stale; run `foundation deploy render`")
            typer.echo("generated deployment files are current")
            return
        for path in result.written:
            typer.echo(f"wrote {path}")
        for path in result.stale:
            if path not in result.written:
                typer.echo(f"removed {path}")
        if not result.stale:
            typer.echo("generated deployment files already current")

    root.add_typer(app, name="deploy")
