"""`foundation openapi [--output FILE]`: the served OpenAPI 3.1 document, without starting a server."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from foundation.cli.errors import fail


def register(root: typer.Typer) -> None:
    root.command(help="Print or write the OpenAPI 3.1 document.")(openapi)


def openapi(output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file.")) -> None:
    from foundation.app import create_app
    from foundation.settings import Settings

    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", tracing_enabled=False))
    text = json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"wrote {output}")
