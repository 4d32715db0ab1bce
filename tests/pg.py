"""PostgreSQL test databases: one migrated + seeded template per session, cloned per test.

Needs ``FOUNDATION_TEST_PG_URL`` (a superuser URL of the private cluster from `make db-up`, printed by
``python -m foundation.ops.devtools.postgres env``). The application connects as the non-owner role
created by `foundation db upgrade`, so every HTTP test also exercises row-level security.

A clone costs PostgreSQL 0.15–0.3 s of CPU (CREATE DATABASE copies the template's 7.4 MB, catalogs included,
through the WAL) and a drop about 0.04 s more: on the HTTP suite that was most of the server's work (with
``log_min_duration_statement=0``, CREATE and DROP DATABASE were 35.5 of the 36 s of statement time logged for
the 85 tests of tests/api/test_tenancy.py).
So a database whose test could only change rows is given back (``release(name, reusable=True)``) and handed
to a later test after a reset to the template's exact state, 0.026 s of server CPU: every row deleted, the
template's rows copied back and its sequences' values restored, after a check that nothing but rows can
have changed — the schema signature (tables, columns, defaults, constraints, indexes, policies, functions,
triggers, grants) and the database's own settings equal a fresh clone's. A database that fails the check,
or whose test had the owner's or the superuser's URL, is dropped as before. Each test still starts from the
template's state, in a database no other test is using.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from foundation.db import Database
from foundation.migrations import roles, runner
from foundation.seed import seed
from foundation.settings import Settings

OWNER = "foundation_test_owner"
APP_ROLE = "foundation_test_app"
TEMPLATE = "foundation_test_template"
T = TypeVar("T")


@dataclass
class PgTemplate:
    superuser_url: str
    owner_password: str
    app_password: str
    # The template's rows (table -> column names, rows) and schema signature, read once by prepare().
    rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = field(default_factory=dict)
    sequences: dict[str, int | None] = field(default_factory=dict)  # name -> last value (None: unused)
    signature: str = ""
    spare: list[str] = field(default_factory=list)  # reset databases, ready for the next test
    privileged: set[str] = field(default_factory=set)  # databases whose owner URL was handed out

    @classmethod
    def from_environment(cls) -> PgTemplate:
        url = os.environ.get("FOUNDATION_TEST_PG_URL")
        if not url:
            raise RuntimeError("FOUNDATION_TEST_PG_URL is not set: run `make db-up` and export its env")
        return cls(url, secrets.token_hex(8), secrets.token_hex(8))

    def _dsn(self, database: str, user: str | None = None, password: str | None = None) -> str:
        parsed = make_url(self.superuser_url)
        user = user or parsed.username
        password = password or parsed.password
        return f"postgresql://{user}:{password}@{parsed.host}:{parsed.port}/{database}"

    def _url(self, database: str, user: str, password: str) -> str:
        parsed = make_url(self.superuser_url)
        return f"postgresql+asyncpg://{user}:{password}@{parsed.host}:{parsed.port}/{database}"

    def owner_url(self, database: str) -> str:
        self.privileged.add(database)  # the owner can change more than rows: never reused
        return self._url(database, OWNER, self.owner_password)

    def app_url(self, database: str) -> str:
        return self._url(database, APP_ROLE, self.app_password)

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(self._dsn("postgres"))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    def prepare(self) -> None:
        asyncio.run(self._prepare())
        # The signature a fresh clone has (a clone does not copy the template's own grants), from the first
        # clone, kept for the first test.
        first = self.clone()
        self.signature = _run(self._signature_of(first))
        self.spare.append(first)

    async def _signature_of(self, name: str) -> str:
        connection = await asyncpg.connect(self._dsn(name))
        try:
            return await _signature(connection)
        finally:
            await connection.close()

    async def _prepare(self) -> None:
        await self._admin(
            f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)",
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER}') THEN "
            f"CREATE ROLE {OWNER} LOGIN CREATEROLE; END IF; END $$",
            f"ALTER ROLE {OWNER} PASSWORD '{self.owner_password}'",
            f"CREATE DATABASE {TEMPLATE} OWNER {OWNER}",
        )
        connection = await asyncpg.connect(self._dsn(TEMPLATE))
        try:
            await connection.execute(f"ALTER SCHEMA public OWNER TO {OWNER}")
        finally:
            await connection.close()
        settings = Settings(
            database_url=self.app_url(TEMPLATE),
            migration_database_url=self.owner_url(TEMPLATE),
            db_app_role=APP_ROLE,
        )
        await asyncio.to_thread(runner.upgrade, settings.effective_migration_url)
        await asyncio.to_thread(roles.ensure_application_role, settings)
        db = Database(self.owner_url(TEMPLATE))
        try:
            await seed(db)
        finally:
            await db.dispose()
        connection = await asyncpg.connect(self._dsn(TEMPLATE))
        try:
            for sequence in await connection.fetch(SEQUENCES):
                self.sequences[sequence["sequencename"]] = sequence["last_value"]
            for table in await connection.fetch(TABLES):
                records = await connection.fetch(f'SELECT * FROM "{table["relname"]}"')  # noqa: S608
                columns = list(records[0].keys()) if records else []
                self.rows[table["relname"]] = (columns, [tuple(record) for record in records])
        finally:
            await connection.close()

    def clone(self) -> str:
        if self.spare:
            return self.spare.pop()
        name = f"foundation_test_{uuid.uuid4().hex[:12]}"
        _run(self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} OWNER {OWNER}"))
        return name

    def release(self, name: str, reusable: bool) -> None:
        """Give a test's database back: reset for the next test when it can be, else dropped."""
        if reusable and name not in self.privileged and _run(self._reset(name)):
            self.spare.append(name)
        else:
            self.drop(name)

    def drop(self, name: str) -> None:
        self.privileged.discard(name)
        _run(self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def close(self) -> None:
        while self.spare:
            self.drop(self.spare.pop())

    async def _reset(self, name: str) -> bool:
        """The template's rows back in ``name``; False (nothing done) when more than rows may differ."""
        connection = await asyncpg.connect(self._dsn(name))
        try:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if await _signature(connection) != self.signature:
                return False
            async with connection.transaction():
                # DELETE, not TRUNCATE: on these few rows 0.016 s of server CPU against 0.09 s (new files for
                # every table and index). As the superuser with triggers and foreign keys off, in any order.
                await connection.execute("SET LOCAL session_replication_role = replica")
                for table in self.rows:
                    await connection.execute(f'DELETE FROM "{table}"')  # noqa: S608
                for table, (columns, rows) in self.rows.items():
                    if rows:
                        await connection.copy_records_to_table(table, records=rows, columns=columns)
                for sequence, last_value in self.sequences.items():
                    if last_value is None:  # never used in the template
                        await connection.execute(f'ALTER SEQUENCE "{sequence}" RESTART')
                    else:
                        await connection.execute("SELECT setval($1, $2, true)", f'"{sequence}"', last_value)
        finally:
            await connection.close()
        return True


SEQUENCES = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
TABLES = "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"

# Everything in the database that is not a row: when it equals the template's, truncating and copying the
# template's rows back gives what a fresh clone would. Object names, not OIDs (a clone's OIDs are the
# template's; a re-created object would get new ones, and its definition is compared anyway).
SIGNATURE = """
SELECT md5(coalesce(string_agg(item, E'\n' ORDER BY item), '')) FROM (
  SELECT concat_ws(' ', 'class', c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
                   c.relowner::regrole, c.relacl, c.relpersistence)
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 'column', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attacl)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT concat_ws(' ', 'constraint', conrelid::regclass, conname, pg_get_constraintdef(oid), condeferrable,
                   condeferred, convalidated)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 'index', pg_get_indexdef(i.indexrelid))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 'policy', polrelid::regclass, polname, polcmd, polpermissive, polroles,
                   pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid))
  FROM pg_policy
  UNION ALL
  SELECT concat_ws(' ', 'function', p.oid::regprocedure, md5(pg_get_functiondef(p.oid)), p.proowner::regrole,
                   p.proacl)
  FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT concat_ws(' ', 'trigger', tgname, tgenabled, pg_get_triggerdef(oid))
  FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT concat_ws(' ', 'sequence', seqrelid::regclass, seqstart, seqincrement, seqmax) FROM pg_sequence
  UNION ALL
  SELECT concat_ws(' ', 'schema', nspname, nspowner::regrole, nspacl)
  FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  UNION ALL
  SELECT concat_ws(' ', 'extension', extname, extversion) FROM pg_extension
  UNION ALL
  SELECT concat_ws(' ', 'default acl', defaclrole::regrole, defaclobjtype, defaclacl) FROM pg_default_acl
  UNION ALL
  SELECT concat_ws(' ', 'database', datconnlimit, datallowconn, datistemplate, datdba::regrole, datacl)
  FROM pg_database WHERE datname = current_database()
  UNION ALL
  SELECT concat_ws(' ', 'setting', setrole::regrole, setconfig)
  FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS items(item)
"""


async def _signature(connection: asyncpg.Connection) -> str:
    value = await connection.fetchval(SIGNATURE)
    return str(value)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion, also when called from a test's running event loop (``fresh_database``
    inside an async test), where ``asyncio.run`` refuses: then in a thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
