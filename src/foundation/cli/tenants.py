"""`foundation tenants create|list`: tenant provisioning."""

from __future__ import annotations

import uuid

import typer

from foundation.cli._common import run_db, settings
from foundation.cli.errors import fail

tenants_app = typer.Typer(help="Tenant provisioning.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(tenants_app, name="tenants")


@tenants_app.command("create")
def create(
    slug: str = typer.Option(..., help="Unique slug, ^[a-z0-9-]{1,32}$."),
    name: str = typer.Option(..., help="Display name."),
    tenant_id: str | None = typer.Option(None, "--id", help="UUID (random when omitted)."),
    status: str = typer.Option("pilot", help="pilot or production."),
) -> None:
    from foundation.db import Database
    from foundation.tenancy.service import TenantDirectory, TenantError

    parsed_id = None
    if tenant_id is not None:
        try:
            parsed_id = uuid.UUID(tenant_id)
        except ValueError:
            fail(f"invalid --id {tenant_id!r}: not a UUID")
    config = settings()
    url = config.effective_migration_url

    async def action() -> object:
        db = Database(url, settings=config)
        try:
            return await TenantDirectory(db).create(slug, name, tenant_id=parsed_id, status=status)
        finally:
            await db.dispose()

    try:
        tenant = run_db(action, url)
    except TenantError as exc:
        fail(str(exc))
    typer.echo(f"created tenant {tenant.slug} {tenant.id} ({tenant.status})")  # type: ignore[attr-defined]


@tenants_app.command("list")
def list_tenants() -> None:
    from foundation.db import Database
    from foundation.tenancy.service import TenantDirectory

    config = settings()
    url = config.effective_migration_url

    async def action() -> list:
        db = Database(url, settings=config)
        try:
            return await TenantDirectory(db).list()
        finally:
            await db.dispose()

    # Identifiers are copied by people: never truncated or wrapped.
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("slug", no_wrap=True, min_width=14)
    table.add_column("name")
    table.add_column("status", no_wrap=True)
    table.add_column("id", no_wrap=True, min_width=36)
    for tenant in run_db(action, url):
        table.add_row(tenant.slug, tenant.name, tenant.status, str(tenant.id))
    Console().print(table)
