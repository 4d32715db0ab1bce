"""PostgreSQL test databases: one migrated + seeded template per session, cloned per test.

Needs ``FOUNDATION_TEST_PG_URL`` (a superuser URL of the private cluster from `make db-up`, printed by
``python -m foundation.ops.devtools.postgres env``). The application connects as the non-owner role
created by `foundation db upgrade`, so every HTTP test also exercises row-level security.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from foundation.db import Database
from foundation.migrations import roles, runner
from foundation.seed import seed
from foundation.settings import Settings

OWNER = "foundation_test_owner"
APP_ROLE = "foundation_test_app"
TEMPLATE = "foundation_test_template"


@dataclass
class PgTemplate:
    superuser_url: str
    owner_password: str
    app_password: str

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

    def clone(self) -> str:
        name = f"foundation_test_{uuid.uuid4().hex[:12]}"
        _run(self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} OWNER {OWNER}"))
        return name

    def drop(self, name: str) -> None:
        _run(self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` to completion, also when called from a test's running event loop (``fresh_database``
    inside an async test), where ``asyncio.run`` refuses: then in a thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()
