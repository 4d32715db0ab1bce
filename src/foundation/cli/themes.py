"""`foundation themes publish TENANT FILE.json [--current]`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError

from foundation.cli._common import run_db, settings
from foundation.cli.errors import fail

themes_app = typer.Typer(help="Theme versions.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(themes_app, name="themes")


@themes_app.command("publish")
def publish(
    tenant: str = typer.Argument(..., help="Tenant UUID or slug."),
    file: Path = typer.Argument(..., help='JSON file: {"version": "X.Y.Z", "categories": {...}}.'),
    current: bool = typer.Option(False, "--current", help="Make it the tenant's current theme."),
    version: str | None = typer.Option(None, help="Version (overrides the file's `version`)."),
) -> None:
    from foundation.db import Database
    from foundation.errors import DomainError
    from foundation.http.problem_kinds import violations_from as to_violations
    from foundation.tenancy.service import TenantDirectory
    from foundation.themes.schemas import SEMVER, ThemePublishRequest
    from foundation.themes.service import ThemeService

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"{file} is not valid JSON: {exc.msg} at line {exc.lineno}")
    if not isinstance(document, dict):
        fail(f"{file} must contain a JSON object")
    chosen = version or document.get("version")
    if not isinstance(chosen, str) or not SEMVER.fullmatch(chosen):
        fail("a SemVer version is required (--version or the file's `version` field)")
    try:
        request = ThemePublishRequest.model_validate({**document, "makeCurrent": current})
    except ValidationError as exc:
        first = to_violations(exc.errors())[0]
        fail(f"invalid theme: {first.field}: {first.message}")
    config = settings()
    url = config.effective_migration_url

    async def action() -> object:
        db = Database(url, settings=config)
        try:
            ref = await TenantDirectory(db).find(tenant)
            if ref is None:
                fail(f"unknown tenant {tenant!r}")
            return await ThemeService(db).publish(ref, chosen, request.categories.model_dump(), current)
        finally:
            await db.dispose()

    try:
        result = run_db(action, url)
    except DomainError as exc:
        fail(exc.detail)
    report = result.representation["wcagReport"]  # type: ignore[attr-defined]
    state = "created" if result.created else "unchanged"  # type: ignore[attr-defined]
    typer.echo(
        f"theme {chosen} {state} for {tenant}: wcag {report['status']} "
        f"(lowest ratio {report['contrastRatio']}), current={result.current}"  # type: ignore[attr-defined]
    )
    for warning in result.warnings:  # type: ignore[attr-defined]
        typer.echo(f"warning: {warning}", err=True)
