"""The PostgreSQL application role, created or updated by `foundation db upgrade`.

The API connects as this role (``FOUNDATION_DATABASE_URL``); migrations run as the schema owner
(``FOUNDATION_MIGRATION_DATABASE_URL``). The role owns nothing, is not a superuser and cannot bypass
row-level security; it may read tenants and read/write the tenant-owned tables, where RLS applies, and
call the three cross-tenant maintenance functions of migration 0006 (aggregates and the purge only).
Its password comes from ``FOUNDATION_DATABASE_URL`` when that URL names the role, else from
``FOUNDATION_DB_APP_PASSWORD``.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from foundation.settings import Settings

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DATA_TABLES = (
    "theme_versions",
    "scaffold_registrations",
    "idempotency_records",
    "sc_samples",
    "stories",
    "story_tags",
    "sc001_histograms",  # written by the sc_samples triggers, in the writer's tenant context
)
# Cross-tenant work the role may do only through these SECURITY DEFINER functions (migration 0006).
MAINTENANCE_FUNCTIONS = (
    "foundation_sc001_histograms(integer)",
    "foundation_sc001_recent(integer)",
    "foundation_purge_idempotency(timestamptz, integer)",
)


def ensure_application_role(settings: Settings) -> None:
    if not settings.effective_migration_url.startswith("postgresql"):
        return
    role = settings.db_app_role
    if not ROLE_NAME.match(role):
        raise ValueError(f"invalid FOUNDATION_DB_APP_ROLE {role!r}")
    app_url = make_url(settings.database_url)
    password = app_url.password if app_url.username == role else settings.db_app_password
    if app_url.username != role and make_url(settings.effective_migration_url).username == app_url.username:
        # Same URL for both: nothing to separate (development without a dedicated role).
        return
    asyncio.run(_apply(settings.effective_migration_url, role, str(password) if password else None))


async def _apply(owner_url: str, role: str, password: str | None) -> None:
    engine = create_async_engine(owner_url)
    try:
        async with engine.begin() as connection:
            exists = (
                await connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            ).first()
            # Defaults are NOSUPERUSER NOBYPASSRLS; only a superuser may change those, so they are checked,
            # not set.
            verb = "ALTER" if exists else "CREATE"
            statement = f'{verb} ROLE "{role}" LOGIN' + ("" if exists else " NOCREATEDB NOCREATEROLE")
            if password:
                escaped = password.replace("'", "''")
                statement += f" PASSWORD '{escaped}'"
            await connection.execute(text(statement))
            flags = (
                await connection.execute(
                    text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
                )
            ).one()
            if flags.rolsuper or flags.rolbypassrls:
                raise ValueError(
                    f"role {role} is a superuser or bypasses row-level security; refuse to use it"
                )
            database = (await connection.execute(text("SELECT current_database()"))).scalar_one()
            await connection.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
            await connection.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
            # Read-only: tenants, and the schema revision (checked by `foundation serve` before it starts).
            await connection.execute(text(f'GRANT SELECT ON tenants, alembic_version TO "{role}"'))
            for table in DATA_TABLES:
                await connection.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{role}"'))
            await connection.execute(text(f'GRANT EXECUTE ON FUNCTION app_current_tenant() TO "{role}"'))
            for function in MAINTENANCE_FUNCTIONS:
                await connection.execute(text(f'GRANT EXECUTE ON FUNCTION {function} TO "{role}"'))
    finally:
        await engine.dispose()
