"""The PostgreSQL application role, created or updated by `foundation db upgrade`.

The API connects as this role (``FOUNDATION_DATABASE_URL``); migrations run as the schema owner
(``FOUNDATION_MIGRATION_DATABASE_URL``). The role owns nothing, is not a superuser and cannot bypass
row-level security; it may read tenants and read/write the tenant-owned tables, where RLS applies, and
call the cross-tenant maintenance functions of migrations 0006 and 0007 (aggregates and the purge only).
Its password comes from ``FOUNDATION_DATABASE_URL`` when that URL names the role, else from
``FOUNDATION_DB_APP_PASSWORD``.

A second role, ``<role>_batch`` (:func:`batch_role_name`), lets one transaction register a batch of several
tenants in one statement per table: it cannot log in, the application role is a member without inheriting
it (``NOINHERIT``) and enters it with ``SET LOCAL ROLE`` for a batch only (``foundation.db.Database.
open_batch``). Its policies, ``batch_tenants``, admit the tenants listed in ``app.tenant_ids`` (migration
0011) on the four tables a registration writes; being ``TO`` that role, they are never part of the
application role's own queries, whose plans stay those of one tenant. A database without it (an older
schema, a role name too long for the suffix) registers batches tenant by tenant.

The owner needs CREATEROLE (or to be a superuser) to create and update that role; :func:`check_owner` says so
before any migration runs. When both URLs name the same role there is nothing to separate: no application
role is made (:data:`SAME_ROLE`), and `foundation db upgrade` says how to create one.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from foundation.db import BATCH_ROLE_SUFFIX
from foundation.settings import Settings

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DATA_TABLES = (
    "theme_versions",
    "scaffold_registrations",
    "idempotency_records",
    "scaffold_events",
    "scaffold_event_keys",
    "sc_samples",
    "sc_targets",
    "stories",
    "story_tags",
    "sc001_histograms",  # written by the sc_samples triggers, in the writer's tenant context
)
# Cross-tenant work the role may do only through these SECURITY DEFINER functions (migration 0006).
MAINTENANCE_FUNCTIONS = (
    "foundation_sc001_histograms(integer)",
    "foundation_sc001_recent(integer)",
    "foundation_purge_idempotency(timestamptz, integer)",
    # Migration 0007: every tenant's scorecard statistics and own targets (read only).
    "foundation_sc_statistics(timestamptz, timestamptz, timestamptz)",
    "foundation_sc_tenant_targets()",
)


# What a registration batch writes (sc001_histograms through the trigger on sc_samples).
BATCH_TABLES = ("scaffold_registrations", "idempotency_records", "sc_samples", "sc001_histograms")
_BATCH_RULE = "(tenant_id = ANY (app_batch_tenants()))"


def batch_role_name(role: str) -> str | None:
    """The batch role of application role ``role``; None when the name would pass PostgreSQL's 63 bytes."""
    name = role + BATCH_ROLE_SUFFIX
    return name if ROLE_NAME.match(name) else None


NOT_POSTGRES = "not-postgres"
SAME_ROLE = "same-role"
APPLIED = "applied"


class RoleSetupError(ValueError):
    """The owner connection cannot manage the application role (raised before any migration)."""


def plan(settings: Settings) -> str:
    """What `db upgrade` will do about the application role: NOT_POSTGRES, SAME_ROLE or APPLIED."""
    if not settings.effective_migration_url.startswith("postgresql"):
        return NOT_POSTGRES
    app_user = make_url(settings.database_url).username
    if app_user != settings.db_app_role and make_url(settings.effective_migration_url).username == app_user:
        return SAME_ROLE  # one URL for both: development without a dedicated role
    return APPLIED


def check_owner(settings: Settings) -> None:
    """Before migrating: the owner must be able to create/alter the application role (CREATEROLE)."""
    if plan(settings) != APPLIED:
        return
    if not ROLE_NAME.match(settings.db_app_role):
        raise RoleSetupError(f"invalid FOUNDATION_DB_APP_ROLE {settings.db_app_role!r}")
    owner, superuser, createrole = asyncio.run(_owner_flags(settings.effective_migration_url))
    if not (superuser or createrole):
        raise RoleSetupError(
            f'the owner role "{owner}" (FOUNDATION_MIGRATION_DATABASE_URL) cannot create the application '
            f'role "{settings.db_app_role}": it needs CREATEROLE (run as a superuser: ALTER ROLE "{owner}" '
            "CREATEROLE); nothing was migrated"
        )


def same_role_notice(settings: Settings) -> str:
    owner = make_url(settings.effective_migration_url).username
    return (
        "note: no application role was created: FOUNDATION_DATABASE_URL and the migration URL connect as "
        f'the same role "{owner}", so the API would run as the schema owner and row-level security would not '
        "isolate tenants (the production profile refuses to start that way). To create one, run again with "
        "FOUNDATION_MIGRATION_DATABASE_URL=<this owner URL> and FOUNDATION_DATABASE_URL="
        f"postgresql+asyncpg://{settings.db_app_role}:<password>@<host>:<port>/<database> "
        "(docs/operations.md)"
    )


async def _owner_flags(owner_url: str) -> tuple[str, bool, bool]:
    engine = create_async_engine(owner_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT current_user, rolsuper, rolcreaterole FROM pg_roles "
                        "WHERE rolname = current_user"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    return str(row[0]), bool(row[1]), bool(row[2])


def ensure_application_role(settings: Settings) -> str:
    """Create or update the application role; returns what was done (NOT_POSTGRES, SAME_ROLE, APPLIED)."""
    outcome = plan(settings)
    if outcome != APPLIED:
        return outcome
    role = settings.db_app_role
    if not ROLE_NAME.match(role):
        raise ValueError(f"invalid FOUNDATION_DB_APP_ROLE {role!r}")
    app_url = make_url(settings.database_url)
    password = app_url.password if app_url.username == role else settings.db_app_password
    asyncio.run(_apply(settings.effective_migration_url, role, str(password) if password else None))
    return outcome


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
            # Read-only: tenants, the schema revision and which releases may serve it (checked by
            # `foundation serve` before it starts).
            readable = "tenants, alembic_version, schema_compatibility"
            await connection.execute(text(f'GRANT SELECT ON {readable} TO "{role}"'))
            for table in DATA_TABLES:
                await connection.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{role}"'))
            await connection.execute(text(f'GRANT EXECUTE ON FUNCTION app_current_tenant() TO "{role}"'))
            for function in MAINTENANCE_FUNCTIONS:
                await connection.execute(text(f'GRANT EXECUTE ON FUNCTION {function} TO "{role}"'))
            await _apply_batch_role(connection, role)
    finally:
        await engine.dispose()


async def _apply_batch_role(connection: AsyncConnection, role: str) -> None:
    """The batch role of ``role``, its grants and its ``batch_tenants`` policies (module docstring)."""
    batch = batch_role_name(role)
    has_function = (
        await connection.execute(text("SELECT to_regprocedure('app_batch_tenants()') IS NOT NULL"))
    ).scalar_one()
    if batch is None or not has_function:  # a name too long, or a schema before 0011: tenant by tenant
        return
    find = text("SELECT 1 FROM pg_roles WHERE rolname = :r")
    exists = (await connection.execute(find, {"r": batch})).first()
    if not exists:
        await connection.execute(text(f'CREATE ROLE "{batch}" NOLOGIN NOINHERIT NOCREATEDB NOCREATEROLE'))
    flags = (
        await connection.execute(
            text("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": batch}
        )
    ).one()
    if flags.rolsuper or flags.rolbypassrls or flags.rolcanlogin:
        raise ValueError(f"role {batch} is a superuser, bypasses row-level security or can log in; refuse it")
    # NOINHERIT: membership lets the application role SET ROLE to the batch role, and nothing else. Were it
    # inherited, the batch policies would apply to every query of the application role.
    await connection.execute(text(f'ALTER ROLE "{role}" NOINHERIT'))
    await connection.execute(text(f'GRANT "{batch}" TO "{role}"'))
    for table in BATCH_TABLES:
        await connection.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{batch}"'))
        await connection.execute(text(f"DROP POLICY IF EXISTS batch_tenants ON {table}"))
        await connection.execute(
            text(
                f'CREATE POLICY batch_tenants ON {table} TO "{batch}" '
                f"USING {_BATCH_RULE} WITH CHECK {_BATCH_RULE}"
            )
        )
    for function in ("app_current_tenant()", "app_batch_tenants()"):
        await connection.execute(text(f'GRANT EXECUTE ON FUNCTION {function} TO "{batch}"'))
