"""`foundation db upgrade|current|purge`: Alembic migrations (the only way the schema changes) and the purge
of expired idempotency records."""

from __future__ import annotations

import typer

from foundation.cli._common import ensure_sqlite_parent, settings
from foundation.cli.errors import fail

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations (with the owner connection, FOUNDATION_MIGRATION_DATABASE_URL when set)."""
    from foundation.migrations import roles, runner

    config = settings()
    url = config.effective_migration_url
    ensure_sqlite_parent(url)
    try:
        roles.check_owner(config)  # before any migration: the owner can manage the application role
    except roles.RoleSetupError as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"cannot check the owner role: {_reason(exc)}")
    try:
        runner.upgrade(url, revision)
        outcome = roles.ensure_application_role(config)
    except Exception as exc:
        fail(f"migration failed: {_reason(exc)}")
    typer.echo(f"database at revision {runner.current(url) or 'base'}")
    if outcome == roles.SAME_ROLE:
        typer.echo(roles.same_role_notice(config), err=True)


@db_app.command("current")
def current() -> None:
    """Print the database's current revision."""
    from foundation.migrations import runner

    config = settings()
    try:
        typer.echo(runner.current(config.effective_migration_url) or "base (no migrations applied)")
    except Exception as exc:
        fail(f"cannot read the revision: {_reason(exc)}")


@db_app.command("purge")
def purge(
    batch_size: int = typer.Option(
        1000, min=1, max=100_000, help="Records deleted per transaction (writers wait at most one batch)."
    ),
) -> None:
    """Delete expired idempotency records (older than FOUNDATION_IDEMPOTENCY_TTL_HOURS), in short batches.

    Prints {"deleted", "batches", "seconds", "skipped"}; skipped is true when another purger was at work.
    Registrations and SC samples are history and are never purged.
    """
    import asyncio
    import json

    from foundation.db import Database
    from foundation.scaffolds.retention import OTHER_PROCESS_PAUSE_SECONDS, purge_expired

    config = settings()
    ensure_sqlite_parent(config.database_url)

    async def run() -> dict[str, object]:
        db = Database(config.database_url, settings=config)
        try:
            # A process beside the API: pause between batches so that its SQLite writers get the lock.
            purged = await purge_expired(db, batch_size=batch_size, pause_seconds=OTHER_PROCESS_PAUSE_SECONDS)
            return purged.as_dict()
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except Exception as exc:
        fail(f"purge failed: {_reason(exc)}")
    typer.echo(json.dumps(result))


def _reason(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(exc).__name__
