"""`foundation seed [--demo-data]`: demo tenants with current themes (idempotent)."""

from __future__ import annotations

import typer

from foundation.cli._common import ensure_sqlite_parent, run_db, settings
from foundation.cli.errors import fail


def register(root: typer.Typer) -> None:
    root.command(help="Create the demo tenants with a current theme each (idempotent).")(seed)


def seed(
    demo_data: bool = typer.Option(False, "--demo-data", help="Also add sample stories and SC samples."),
) -> None:
    from foundation.db import Database
    from foundation.seed import SeedReport
    from foundation.seed import seed as run_seed
    from foundation.tenancy.service import TenantError

    config = settings()
    url = config.effective_migration_url
    ensure_sqlite_parent(url)

    async def action() -> SeedReport:
        db = Database(url, settings=config)
        try:
            return await run_seed(db, demo_data=demo_data)
        finally:
            await db.dispose()

    try:
        report = run_db(action, url)
    except TenantError as exc:  # e.g. a demo tenant's id or slug already taken by another tenant
        fail(f"cannot seed the demo tenants: {exc}")
    line = f"seeded: {report.tenants_created} tenants and {report.themes_published} themes created"
    if demo_data:
        line += (
            f"; demo data: {report.stories_upserted} stories upserted, {report.samples_accepted} samples "
            f"and {report.scaffolds_registered} registrations added"
        )
    typer.echo(line)
