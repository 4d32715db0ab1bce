"""The API refuses (production) or flags (local) a database role that row-level security does not bind, and
`foundation db upgrade` checks the owner before migrating. Real PostgreSQL (the private test cluster)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from foundation.app import create_app
from foundation.db import Database
from foundation.db_role import UnsafeDatabaseRole, inspect_role
from foundation.ops.perf.server import wait_ready
from foundation.ops.procs import free_port
from foundation.settings import Settings

pytestmark = pytest.mark.postgres
CLI = [sys.executable, "-c", "from foundation.cli.main import main; main()"]


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
    return {**env, "FOUNDATION_LOG_LEVEL": "WARNING", **values}


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def superuser_url(database_url: str) -> str:
    parsed = make_url(os.environ["FOUNDATION_TEST_PG_URL"])
    database = make_url(database_url).database
    return str(parsed.set(drivername="postgresql+asyncpg", database=database).render_as_string(False))


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(False)


@pytest.fixture
def jwt_env(tmp_path: Path) -> dict[str, str]:
    result = cli(["auth", "keygen", "--dir", str(tmp_path / "auth")], clean_env(), tmp_path)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("role", ["superuser", "owner"])
def test_production_refuses_a_superuser_url(
    role: str, database_url: str, owner_database_url: str, jwt_env: dict[str, str], tmp_path: Path
) -> None:
    url = superuser_url(database_url) if role == "superuser" else owner_database_url
    env = clean_env(FOUNDATION_PROFILE="production", FOUNDATION_DATABASE_URL=url, **jwt_env)
    result = cli(["serve", "--port", str(free_port())], env, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = "is a superuser" if role == "superuser" else "owns the tables"
    assert lines[0].startswith("error: refusing to start: the database role"), lines[0]
    assert expected in lines[0], lines[0]


def test_production_app_start_up_refuses_an_owner_role(
    owner_database_url: str, jwt_env: dict[str, str]
) -> None:
    """Any server (not only `foundation serve`) fails to start: the app's lifespan raises."""
    settings = Settings(
        profile="production",
        database_url=owner_database_url,
        auth="jwt",
        auth_jwks=jwt_env["FOUNDATION_AUTH_JWKS"],
        tracing_enabled=False,
        log_level="WARNING",
    )
    app = create_app(settings)

    async def start() -> None:
        try:
            async with app.router.lifespan_context(app):
                pass
        finally:
            await app.state.services[Database].dispose()

    with pytest.raises(UnsafeDatabaseRole, match="owns the tables"):
        asyncio.run(start())


async def test_readiness_reports_the_role(
    make_client: Callable[..., httpx.AsyncClient], owner_database_url: str
) -> None:
    async with make_client() as app_role:
        body = (await app_role.get("/health/ready")).json()
        assert body == {"status": "ok", "checks": {"database": "ok", "databaseRole": "ok"}}
    async with make_client(database_url=owner_database_url, profile="local") as owner:
        response = await owner.get("/health/ready")
        assert response.status_code == 200
        check = response.json()["checks"]["databaseRole"]
        assert check.startswith("warning: the database role") and "owns the tables" in check


async def test_production_readiness_refuses_an_unsafe_role(
    make_client: Callable[..., httpx.AsyncClient], owner_database_url: str, jwt_env: dict[str, str]
) -> None:
    """A server whose start-up check could not run (the database was unreachable then: the ASGI client here
    runs no lifespan) is still never ready with an owner role in production."""
    settings = {"auth": "jwt", "auth_jwks": jwt_env["FOUNDATION_AUTH_JWKS"], "tracing_enabled": False}
    async with make_client(database_url=owner_database_url, profile="production", **settings) as owner:
        response = await owner.get("/health/ready")
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "Refused by the production profile" in response.json()["detail"]
        assert "owns the tables" in response.json()["detail"]


@pytest.fixture
def local_server(owner_database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp_path / "server.log"
    env = clean_env(FOUNDATION_PROFILE="local", FOUNDATION_DATABASE_URL=owner_database_url)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            assert wait_ready(f"http://127.0.0.1:{port}/health/ready", 60, alive=process), log.read_text()
            yield f"http://127.0.0.1:{port}", log
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_local_warns_at_start_and_in_readiness(local_server: tuple[str, Path]) -> None:
    base_url, log = local_server
    body = httpx.get(f"{base_url}/health/ready", timeout=10).json()
    assert body["status"] == "ok"
    assert body["checks"]["databaseRole"].startswith("warning:")
    deadline = time.monotonic() + 10
    while "unsafe_database_role" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # the lifespan's log line may still be in the pipe
    text = log.read_text()
    assert "warning: the database role" in text  # the preflight line of `foundation serve`
    assert "unsafe_database_role" in text  # the app's own start-up warning


@pytest.fixture
def owner_without_createrole() -> Iterator[tuple[str, str, str]]:
    """A new database owned by a new role without CREATEROLE: (owner name, its password, database)."""
    suffix = secrets.token_hex(4)
    owner, password, database = f"owner_{suffix}", secrets.token_hex(8), f"db_{suffix}"
    admin_dsn = dsn(os.environ["FOUNDATION_TEST_PG_URL"])

    async def admin(database_name: str, *statements: str) -> None:
        connection = await asyncpg.connect(
            make_url(admin_dsn).set(database=database_name).render_as_string(False)
        )
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(
        admin(
            "postgres",
            f"CREATE ROLE {owner} LOGIN NOCREATEROLE PASSWORD '{password}'",
            f"CREATE DATABASE {database} OWNER {owner}",
        )
    )
    asyncio.run(admin(database, f"ALTER SCHEMA public OWNER TO {owner}"))
    yield owner, password, database
    asyncio.run(
        admin("postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", f"DROP ROLE IF EXISTS {owner}")
    )


def _url(user: str, password: str, database: str) -> str:
    parsed = make_url(os.environ["FOUNDATION_TEST_PG_URL"])
    return f"postgresql+asyncpg://{user}:{password}@{parsed.host}:{parsed.port}/{database}"


async def _tables(url: str) -> list[str]:
    connection = await asyncpg.connect(dsn(url))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return [row[0] for row in rows]
    finally:
        await connection.close()


def test_owner_without_createrole_is_refused_before_migrating(
    owner_without_createrole: tuple[str, str, str], tmp_path: Path
) -> None:
    owner, password, database = owner_without_createrole
    owner_url = _url(owner, password, database)
    env = clean_env(
        FOUNDATION_MIGRATION_DATABASE_URL=owner_url,
        FOUNDATION_DATABASE_URL=_url("foundation_role_test_app", "app-password", database),
        FOUNDATION_DB_APP_ROLE="foundation_role_test_app",
    )
    result = cli(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "needs CREATEROLE" in lines[0] and "nothing was migrated" in lines[0], lines[0]
    assert asyncio.run(_tables(owner_url)) == []  # no table, not even alembic_version


def test_one_url_for_both_says_no_application_role_was_created(
    owner_without_createrole: tuple[str, str, str], tmp_path: Path
) -> None:
    owner, password, database = owner_without_createrole
    owner_url = _url(owner, password, database)
    env = clean_env(FOUNDATION_MIGRATION_DATABASE_URL=owner_url, FOUNDATION_DATABASE_URL=owner_url)
    result = cli(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout
    assert "note: no application role was created" in result.stderr
    assert "FOUNDATION_DATABASE_URL=postgresql+asyncpg://foundation_app:<password>@" in result.stderr
    assert "alembic_version" in asyncio.run(_tables(owner_url))


async def test_a_role_that_may_become_a_bypassrls_role_is_unsafe(database_url: str) -> None:
    """Membership is as good as the role itself (SET ROLE): the production check looks at the roles the API's
    role may enter, such as its batch role, not only at the role it connects as."""
    superuser = await asyncpg.connect(dsn(superuser_url(database_url)))
    suffix = secrets.token_hex(4)
    bypass, member = f"role_test_bypass_{suffix}", f"role_test_member_{suffix}"
    password = secrets.token_hex(8)
    try:
        await superuser.execute(f"CREATE ROLE {bypass} NOLOGIN BYPASSRLS")
        await superuser.execute(f"CREATE ROLE {member} LOGIN NOINHERIT PASSWORD '{password}'")
        url = make_url(database_url).set(username=member, password=password).render_as_string(False)
        engine = create_async_engine(url)
        try:
            assert (await inspect_role(engine)).safe  # type: ignore[union-attr]
            await superuser.execute(f"GRANT {bypass} TO {member}")
            report = await inspect_role(engine)
        finally:
            await engine.dispose()
        assert report is not None and not report.safe
        assert f"may SET ROLE to a superuser or BYPASSRLS role ({bypass})" in report.message()
    finally:
        await superuser.execute(f"DROP ROLE IF EXISTS {member}")
        await superuser.execute(f"DROP ROLE IF EXISTS {bypass}")
        await superuser.close()
