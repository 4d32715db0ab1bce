"""Is the API's database role safe? Forced row-level security means nothing for a superuser, a role with
BYPASSRLS, or the owner of the tables (who may switch RLS off again).

The ``production`` profile refuses to start with such a role (``foundation serve`` prints one ``error:``
line; the app's start-up raises :class:`UnsafeDatabaseRole` for any other server, and ``/health/ready``
answers 503 should the role become unsafe after start or the start-up could not check it); ``local`` and
``test`` warn loudly at start and report it in ``/health/ready``'s checks. SQLite has no roles: nothing
to check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

CHECK_NAME = "databaseRole"
# Tables (and partitioned tables) of the current schema owned by the role or by a role it is a member of:
# membership lets it act as the owner (SET ROLE), which is as good as owning them.
_OWNED = text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
    "AND pg_has_role(current_user, c.relowner, 'MEMBER') ORDER BY c.relname"
)
_FLAGS = text(
    "SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
)
# Roles it may SET ROLE to (its batch role, foundation.migrations.roles, or any other) that would lift RLS.
_UNSAFE_MEMBERSHIPS = text(
    "SELECT rolname FROM pg_roles WHERE rolname <> current_user AND (rolsuper OR rolbypassrls) "
    "AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY rolname"
)


class UnsafeDatabaseRole(RuntimeError):
    """The production profile refuses this database role."""


@dataclass
class RoleReport:
    name: str
    superuser: bool
    bypass_rls: bool
    owned_tables: list[str] = field(default_factory=list)
    unsafe_memberships: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.superuser:
            found.append("is a superuser")
        elif self.bypass_rls:
            found.append("has BYPASSRLS")
        if self.unsafe_memberships and not self.superuser:
            roles = ", ".join(self.unsafe_memberships)
            found.append(f"may SET ROLE to a superuser or BYPASSRLS role ({roles})")
        if self.owned_tables and not self.superuser:
            shown = ", ".join(self.owned_tables[:5]) + (" …" if len(self.owned_tables) > 5 else "")
            found.append(f"owns the tables ({shown})")
        return found

    @property
    def safe(self) -> bool:
        return not self.problems

    def message(self) -> str:
        return (
            f'the database role "{self.name}" {" and ".join(self.problems)}, so row-level security does not '
            "isolate tenants; connect the API (FOUNDATION_DATABASE_URL) as the application role that "
            "`foundation db upgrade` creates (docs/operations.md)"
        )


async def inspect_role(engine: AsyncEngine) -> RoleReport | None:
    """The connected role's privileges; None on a backend without roles (SQLite)."""
    if engine.dialect.name != "postgresql":
        return None
    async with engine.connect() as connection:
        flags = (await connection.execute(_FLAGS)).one()
        owned, unsafe = [], []
        if not flags.rolsuper:
            owned = [row[0] for row in await connection.execute(_OWNED)]
            unsafe = [row[0] for row in await connection.execute(_UNSAFE_MEMBERSHIPS)]
    return RoleReport(str(flags.name), bool(flags.rolsuper), bool(flags.rolbypassrls), owned, unsafe)


def readiness_value(report: RoleReport | None) -> str | None:
    """The ``databaseRole`` entry of /health/ready's checks (None: not applicable, no entry)."""
    if report is None:
        return None
    return "ok" if report.safe else f"warning: {report.message()}"


async def check_at_start(engine: AsyncEngine, *, production: bool, log: Any) -> RoleReport | None:
    """At start-up: refuse an unsafe role in production, warn loudly elsewhere. A database that cannot be
    reached here is left to the readiness check (the server still starts and answers 503 there)."""
    try:
        report = await inspect_role(engine)
    except Exception as exc:  # unreachable database: not this check's verdict
        log.warning("database_role_unchecked", detail=f"{type(exc).__name__}: {exc}")
        return None
    if report is not None and not report.safe:
        if production:
            raise UnsafeDatabaseRole(report.message())
        log.warning("unsafe_database_role", detail=report.message(), role=report.name)
    return report
