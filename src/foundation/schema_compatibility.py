"""Which releases may serve a schema, so a pod of the previous release can restart after a newer migration.

A migration module sets ``EXPAND_ONLY = True`` when the release before it still runs on the schema it leaves
(it only adds: tables, nullable or defaulted columns, indexes, functions; docs/deploy-kubernetes.md "Schema
changes"). Every upgrade records, in the same transaction, the schema's revision and the oldest revision whose
code may serve it: walking down from the revision while migrations are expand-only. ``foundation serve``
of a release that does not know the database's revision starts only if it is that old or newer.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import String, delete, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from foundation.db import Base

VERSION_TABLE = "alembic_version"


class SchemaCompatibility(Base):
    """One row: the schema's revision and the oldest code revision that may serve it."""

    __tablename__ = "schema_compatibility"

    revision: Mapped[str] = mapped_column(String(32), primary_key=True)
    oldest_compatible_revision: Mapped[str] = mapped_column(String(32))


def oldest_compatible_revision(script: ScriptDirectory, revision: str) -> str:
    oldest = revision
    for migration in script.iterate_revisions(revision, "base"):
        if not getattr(migration.module, "EXPAND_ONLY", False) or not isinstance(
            migration.down_revision, str
        ):
            break
        oldest = migration.down_revision
    return oldest


def record(connection: Connection, script: ScriptDirectory) -> None:
    """Write the row for the revision the migrations just left (nothing before the table exists)."""
    if not inspect(connection).has_table(SchemaCompatibility.__tablename__):
        return
    revision = MigrationContext.configure(connection).get_current_revision()
    connection.execute(delete(SchemaCompatibility))
    if revision is not None:
        oldest = oldest_compatible_revision(script, revision)
        connection.execute(
            insert(SchemaCompatibility).values(revision=revision, oldest_compatible_revision=oldest)
        )


@dataclass(frozen=True)
class SchemaState:
    revision: str | None
    oldest_compatible_revision: str | None


async def read_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        if VERSION_TABLE not in tables:
            return SchemaState(None, None)
        revision = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
        oldest = None
        if SchemaCompatibility.__tablename__ in tables:
            oldest = (
                await connection.execute(
                    select(SchemaCompatibility.oldest_compatible_revision).where(
                        SchemaCompatibility.revision == revision
                    )
                )
            ).scalar_one_or_none()
        return SchemaState(revision, oldest)


def refusal(script: ScriptDirectory, state: SchemaState) -> str | None:
    """Why this code must not serve the database (``None``: it may)."""
    head = script.get_current_head()
    if state.revision == head:
        return None
    if state.revision is None:
        return "the database has no schema: run `foundation db upgrade` first"
    if state.revision in known_revisions(script):
        return (
            f"the database schema ({state.revision}) is older than this release's ({head}): "
            "run `foundation db upgrade` first"
        )
    oldest = state.oldest_compatible_revision
    if oldest is not None and oldest in known_revisions(script):
        return None  # a newer schema whose migrations since this release only expanded it
    return (
        f"the database schema ({state.revision}) is newer than this release's ({head}) and not declared "
        f"compatible with it (oldest release that may serve it: {oldest or 'not recorded'}): deploy a newer "
        "release, or restore the database to before the migration"
    )


def known_revisions(script: ScriptDirectory) -> set[str]:
    return {migration.revision for migration in script.walk_revisions()}
