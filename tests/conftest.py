"""Shared fixtures: a migrated, seeded database per test and an HTTP client against the real app.

The backend is chosen by ``FOUNDATION_TEST_BACKEND`` (``sqlite``, the default, or ``postgres``); `make test`
runs the HTTP suite once per backend. SQLite tests copy a template file migrated once per session;
PostgreSQL tests clone a template database (see tests/pg.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.app import create_app
from foundation.db import Database
from foundation.migrations import runner
from foundation.seed import seed
from foundation.settings import Settings

BACKEND = os.environ.get("FOUNDATION_TEST_BACKEND", "sqlite")
# `make test` runs the HTTP and auth suites a second time with SHORTCUTS=off: the response cache and the
# direct dispatcher off, every answer from the framework route. Both runs must pass the same assertions.
SHORTCUTS = os.environ.get("FOUNDATION_TEST_SHORTCUTS", "on")
SHORTCUTS_OFF = {"read_cache_seconds": 0, "direct_dispatch": False}
# The property-based fuzzers' budget, as a fraction of each test's own number of examples. `make test` runs
# the full budget once (sqlite-http) and a quarter of it in the stages that repeat the HTTP suite (postgres,
# lowest): the same generators and checks on the other backend and versions, at a quarter of the CPU.
FUZZ_SCALE = float(os.environ.get("FOUNDATION_TEST_FUZZ_SCALE", "1"))


def fuzz_examples(full_budget: int) -> int:
    return max(1, round(full_budget * FUZZ_SCALE))


DEFAULT = "00000000-0000-0000-0000-000000000000"
ALFA = "00000000-0000-0000-0000-000000000001"
BETA = "00000000-0000-0000-0000-000000000002"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    runner.upgrade(sqlite_url(path))

    async def run() -> None:
        db = Database(sqlite_url(path))
        await seed(db)
        await db.dispose()

    asyncio.run(run())
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    if BACKEND != "postgres":
        yield None
        return
    from tests.pg import PgTemplate

    template = PgTemplate.from_environment()
    template.prepare()
    yield template
    template.close()


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes fresh, migrated and seeded databases (application-role URLs on PostgreSQL), dropped after."""
    made: list[str] = []

    def make() -> str:
        if BACKEND == "postgres":
            cluster = request.getfixturevalue("pg_cluster")
            name = cluster.clone()
            made.append(name)
            return str(cluster.app_url(name))
        path = tmp_path / f"foundation-{len(made)}.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        made.append(str(path))
        return sqlite_url(path)

    yield make
    if BACKEND == "postgres":
        # Reset for a later test when this one could only change rows (tests/pg.py): it reached the database
        # through the application role alone, never as its owner or the superuser.
        privileged = {"pg_cluster", "owner_database_url"} & set(request.node.fixturenames)
        reusable = not privileged and request.node.get_closest_marker("postgres") is None
        for name in made:
            request.getfixturevalue("pg_cluster").release(name, reusable)


@pytest.fixture
def database_url(fresh_database: Callable[[], str]) -> str:
    """A fresh, migrated and seeded database for this test."""
    return fresh_database()


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "profile": "test",
            "log_level": "WARNING",
            "rate_limit_enabled": True,
            **(SHORTCUTS_OFF if SHORTCUTS == "off" else {}),
        }
        values.update(overrides)
        return Settings(**values)

    return factory


class AppClient(httpx.AsyncClient):
    """An HTTP client bound to one app; closing it disposes the app's engine in the same event loop
    (asyncpg connections cannot be closed from another loop)."""

    def __init__(self, app: Any) -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        super().__init__(transport=transport, base_url="http://testserver")
        self.app = app
        self.disposed = False

    async def aclose(self) -> None:
        await super().aclose()
        if not self.disposed:
            self.disposed = True
            await self.app.state.services[Database].dispose()


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., httpx.AsyncClient]]:
    """Build clients for apps with custom settings; each app's engine is disposed when its client closes."""
    clients: list[AppClient] = []

    def factory(**overrides: Any) -> httpx.AsyncClient:
        client = AppClient(create_app(make_settings(**overrides)))
        clients.append(client)
        return client

    yield factory

    leftovers = [client for client in clients if not client.disposed]
    if leftovers:  # clients used without `async with`: best effort in a fresh loop

        async def dispose() -> None:
            for client in leftovers:
                await client.app.state.services[Database].dispose()

        asyncio.run(dispose())


@pytest.fixture
async def client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as http:
        yield http


def tenant_headers(tenant: str, **extra: str) -> dict[str, str]:
    return {"X-Tenant-Id": tenant, **extra}


@pytest.fixture
def owner_database_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """The schema owner's URL of this test's database (PostgreSQL only)."""
    if BACKEND != "postgres":
        pytest.skip("PostgreSQL only")
    cluster = request.getfixturevalue("pg_cluster")
    from sqlalchemy.engine import make_url

    return str(cluster.owner_url(make_url(database_url).database))
