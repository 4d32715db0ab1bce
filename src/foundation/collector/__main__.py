"""``python -m foundation.collector``: the collector command alone (works without the full CLI)."""

from __future__ import annotations

import typer

from foundation.cli.collector import register

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)

if __name__ == "__main__":
    app()
