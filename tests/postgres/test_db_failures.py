"""Every database failure a failover produces is a transient unavailability (503 + Retry-After),
produced by a real PostgreSQL — no mocks: terminated backends, a refused connection, a read-only (demoted)
database, too many connections, an exhausted pool, a server shutting down, stopped, or in recovery as a
standby. Errors that are bugs or configuration mistakes are not. Then the same classes through the real app,
on every endpoint, including registrations that fail inside a RegistrationQueue batch.

The shared cluster (a cloned database per test) serves the cases that only need SQL; the cases that stop or
restart the server run on a private cluster of this module.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from foundation.db import Database
from foundation.db_failures import _chain, is_lock_conflict, is_transient_unavailability
from foundation.http.problems import unhandled_problem
from foundation.migrations import roles, runner
from foundation.ops.devtools import postgres
from foundation.ops.devtools._proc import run
from foundation.ops.procs import free_port, wait_until
from foundation.seed import demo_theme, seed
from foundation.settings import Settings
from tests.conftest import ALFA
from tests.postgres.test_row_level_security import dsn, scaffold, story

pytestmark = pytest.mark.postgres

# A write any tenant may do (refused before its foreign key is even checked when the database is read-only).
INSERT_TAG = text("INSERT INTO story_tags (story_pk, tag, tenant_id) VALUES (:id, 'x', :tenant)")


async def failure_of(action: Callable[[], Any]) -> BaseException:
    try:
        await action()
    except Exception as exc:
        return exc
    raise AssertionError("the database operation did not fail")


def sqlstates(exc: BaseException) -> set[str]:
    return {state for c in _chain(exc) if isinstance(state := getattr(c, "sqlstate", None), str)}


def superuser_dsn(cluster: Any) -> str:
    return dsn(cluster.superuser_url)


async def admin(cluster_dsn: str, *statements: str) -> None:
    connection = await asyncpg.connect(cluster_dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def terminate(cluster_dsn: str, pid: int, *, once_running: str | None = None) -> None:
    """Terminate backend ``pid``; with ``once_running``, first wait (polling) until it runs that statement."""
    connection = await asyncpg.connect(cluster_dsn)
    try:
        if once_running is not None:
            for _ in range(200):
                running = await connection.fetchval(
                    "SELECT query FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", pid
                )
                if running and running.startswith(once_running):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"backend {pid} never ran {once_running!r}")
        await connection.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()


# --- the shared cluster: failures produced with SQL ------------------------------------------------------


async def test_a_backend_terminated_while_idle_in_a_transaction(database_url: str, pg_cluster: Any) -> None:
    db = Database(database_url)
    try:

        async def use_after_terminate() -> None:
            async with db.read() as connection:
                pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await terminate(superuser_dsn(pg_cluster), pid)
                await connection.execute(text("SELECT 1"))

        exc = await failure_of(use_after_terminate)
        assert is_transient_unavailability(exc), repr(exc)
    finally:
        await db.dispose()


async def test_a_connection_lost_in_the_middle_of_a_write(database_url: str, pg_cluster: Any) -> None:
    db = Database(database_url)
    try:

        async def write_while_terminated() -> None:
            async with db.write(uuid.UUID(ALFA)) as connection:
                pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                killer = asyncio.create_task(
                    terminate(superuser_dsn(pg_cluster), pid, once_running="SELECT pg_sleep")
                )
                try:
                    await connection.execute(text("SELECT pg_sleep(10)"))
                finally:
                    await killer

        exc = await failure_of(write_while_terminated)
        assert is_transient_unavailability(exc), repr(exc)
        # asyncpg reports the lost connection (08003) caused by the server's admin_shutdown (57P01).
        assert sqlstates(exc) & {"08003", "57P01"}, sqlstates(exc)
    finally:
        await db.dispose()


async def test_a_raw_driver_error_is_classified_by_its_sqlstate(database_url: str, pg_cluster: Any) -> None:
    connection = await asyncpg.connect(dsn(database_url))
    pid = await connection.fetchval("SELECT pg_backend_pid()")
    fetch = asyncio.create_task(connection.fetchval("SELECT pg_sleep(10)"))
    await terminate(superuser_dsn(pg_cluster), pid, once_running="SELECT pg_sleep")
    exc = await failure_of(lambda: fetch)
    await connection.close()
    assert isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError), repr(exc)
    assert is_transient_unavailability(exc)


async def test_a_deadlock_is_a_lock_conflict_answered_503_not_an_outage(database_url: str) -> None:
    """Two transactions that lock two rows in opposite orders: PostgreSQL aborts one (40P01). A retry can
    succeed, so the API answers 503 + Retry-After, and a registration batch settles its attempts one by one
    (tests/api/test_scaffold_batching.py); it is not a database outage."""
    first, second = await asyncpg.connect(dsn(database_url)), await asyncpg.connect(dsn(database_url))
    try:
        tx1, tx2 = first.transaction(), second.transaction()
        await tx1.start()
        await tx2.start()
        await first.execute("SELECT pg_advisory_xact_lock(101)")
        await second.execute("SELECT pg_advisory_xact_lock(102)")
        waits = asyncio.gather(
            first.execute("SELECT pg_advisory_xact_lock(102)"),
            second.execute("SELECT pg_advisory_xact_lock(101)"),
            return_exceptions=True,
        )
        outcomes = await asyncio.wait_for(waits, timeout=30)
        deadlocks = [o for o in outcomes if isinstance(o, asyncpg.exceptions.DeadlockDetectedError)]
        assert len(deadlocks) == 1, outcomes
        assert is_lock_conflict(deadlocks[0]) and not is_transient_unavailability(deadlocks[0])
        problem = unhandled_problem(deadlocks[0])
        assert problem.kind.status == 503 and problem.headers == {"Retry-After": "5"}
    finally:
        await first.close()
        await second.close()


async def test_a_refused_connection() -> None:
    db = Database(f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{free_port()}/foundation")
    try:
        exc = await failure_of(db.ping)
        assert isinstance(exc, ConnectionRefusedError), repr(exc)
        assert is_transient_unavailability(exc)
    finally:
        await db.dispose()


async def test_a_read_only_database_as_after_a_demotion(database_url: str, pg_cluster: Any) -> None:
    name = make_url(database_url).database
    await admin(superuser_dsn(pg_cluster), f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    db = Database(database_url)
    try:

        async def insert() -> None:
            async with db.write(uuid.UUID(ALFA)) as connection:
                await connection.execute(INSERT_TAG, {"id": uuid.uuid4(), "tenant": ALFA})

        exc = await failure_of(insert)
        assert "25006" in sqlstates(exc), sqlstates(exc)
        assert is_transient_unavailability(exc)
    finally:
        await db.dispose()


async def test_too_many_connections(database_url: str, pg_cluster: Any) -> None:
    name = make_url(database_url).database
    await admin(superuser_dsn(pg_cluster), f"ALTER DATABASE {name} CONNECTION LIMIT 1")
    held = await asyncpg.connect(dsn(database_url))
    db = Database(database_url)
    try:
        exc = await failure_of(db.ping)
        assert "53300" in sqlstates(exc), sqlstates(exc)
        assert is_transient_unavailability(exc)
    finally:
        await held.close()
        await db.dispose()


async def test_an_exhausted_pool(database_url: str) -> None:
    settings = Settings(database_url=database_url, db_pool_size=1, db_timeout_seconds=0.3)
    db = Database(database_url, settings=settings)
    try:
        async with db.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            exc = await failure_of(db.ping)
        assert is_transient_unavailability(exc), repr(exc)
    finally:
        await db.dispose()


async def test_bugs_and_configuration_mistakes_are_not_transient(
    database_url: str, owner_database_url: str
) -> None:
    db = Database(database_url)
    owner = Database(owner_database_url)
    url = make_url(database_url)
    wrong_password = Database(url.set(password="wrong").render_as_string(hide_password=False))
    no_database = Database(url.set(database="no_such_database").render_as_string(hide_password=False))
    try:

        async def run_sql(statement: str) -> None:
            async with db.read() as connection:
                await connection.execute(text(statement))

        async def duplicate_tenant() -> None:
            async with owner.write() as connection:
                await connection.execute(
                    text("INSERT INTO tenants (id, slug, name, status) VALUES (:id, 'x', 'x', 'pilot')"),
                    {"id": ALFA},
                )

        failures = {
            "syntax error": await failure_of(lambda: run_sql("SELEC 1")),
            "permission denied": await failure_of(lambda: run_sql("SELECT * FROM pg_authid")),
            "duplicate key": await failure_of(duplicate_tenant),
            "undefined table": await failure_of(lambda: run_sql("SELECT * FROM no_such_table")),
            "wrong password": await failure_of(wrong_password.ping),
            "unknown database": await failure_of(no_database.ping),
        }
        transient = {name: repr(exc) for name, exc in failures.items() if is_transient_unavailability(exc)}
        assert transient == {}
        assert not is_transient_unavailability(ValueError("bad input"))
    finally:
        for database in (db, owner, wrong_password, no_database):
            await database.dispose()


# --- the same through the app: 503 + Retry-After on every endpoint ---------------------------------------


SCAFFOLD = f"/api/v1/tenants/{ALFA}/features/scaffold"
SAMPLES = {"samples": [{"code": "SC-002", "value": 1, "collectedAt": "2026-01-01T00:00:00Z", "source": "ci"}]}


def every_endpoint(slug: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", "/health/ready", None),
        ("GET", f"/api/v1/tenants/{ALFA}/themes/current", None),
        ("PUT", f"/api/v1/tenants/{ALFA}/themes/7.0.0", {"categories": demo_theme("#1D4ED8")}),
        ("GET", f"/api/v1/tenant-metrics/{ALFA}/sc", None),
        (
            "POST",
            f"/api/v1/tenant-metrics/{ALFA}/sc",
            SAMPLES,
        ),
        ("GET", "/api/v1/design-system/stories", None),
        ("PUT", "/api/v1/design-system/stories", {"stories": [story(ALFA, f"s-{slug}")]}),
        ("POST", SCAFFOLD, scaffold(slug)),
        ("GET", f"/api/v1/tenants/{ALFA}/features/scaffold/{slug}", None),
    ]


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any, key: str) -> httpx.Response:
    headers = {"X-Tenant-Id": ALFA, "Idempotency-Key": key}
    return await client.request(method, path, json=body, headers=headers)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.method, response.request.url.path, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "service_unavailable"
    assert int(response.headers["retry-after"]) > 0


@pytest.fixture
async def starved_client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose only pooled connection is held elsewhere: every database access times out."""
    client = make_client(db_pool_size=1, db_timeout_seconds=0.3, read_cache_seconds=0)
    async with client, client.app.state.services[Database].engine.connect() as held:  # type: ignore[attr-defined]
        await held.execute(text("SELECT 1"))
        yield client


async def test_an_exhausted_pool_is_503_on_every_endpoint(starved_client: httpx.AsyncClient) -> None:
    for method, path, body in every_endpoint("starved"):
        assert_unavailable(await call(starved_client, method, path, body, "k-starved"))


async def test_a_read_only_database_is_503_for_every_write_and_batched_registrations(
    database_url: str, pg_cluster: Any, make_client: Callable[..., httpx.AsyncClient]
) -> None:
    name = make_url(database_url).database
    await admin(superuser_dsn(pg_cluster), f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    async with make_client(read_cache_seconds=0) as client:
        for method, path, body in every_endpoint("read-only"):
            response = await call(client, method, path, body, "k-read-only")
            if method == "GET":
                assert response.status_code in (200, 404), (path, response.text)  # reads still work
            else:
                assert_unavailable(response)
        # Concurrent registrations are written in batches by RegistrationQueue: the batch's failure reaches
        # every caller and each answers 503 (the fast path and the route share the queue and the mapping).
        batch = await asyncio.gather(
            *(call(client, "POST", SCAFFOLD, scaffold(f"b-{i}"), f"b-{i}") for i in range(12))
        )
        for response in batch:
            assert_unavailable(response)


# --- a private cluster: shutting down, stopped, in recovery ----------------------------------------------


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    directory = tmp_path_factory.mktemp("failures") / "pg"
    cluster = postgres.up(directory)
    try:
        settings = Settings(database_url=cluster.app_url, migration_database_url=cluster.owner_url)
        runner.upgrade(cluster.owner_url)
        roles.ensure_application_role(settings)

        async def seed_it() -> None:
            db = Database(cluster.owner_url)
            try:
                await seed(db)
            finally:
                await db.dispose()

        asyncio.run(seed_it())
        yield directory, cluster
    finally:
        postgres.down(directory, purge=True)


def pg_ctl(cluster: Any, *args: str) -> None:
    run([str(postgres.bin_dir() / "pg_ctl"), "-D", str(cluster.data), *args], user=postgres.OS_USER)


def start_options(cluster: Any, *extra: str) -> list[str]:
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={cluster.port} "
        f"-c unix_socket_directories={cluster.directory} " + " ".join(extra)
    )
    return ["-l", str(Path(cluster.directory) / "postgres.log"), "-o", options]


def pg_isready(cluster: Any) -> int:
    """0: accepting connections; 1: rejecting them (starting up, in recovery, shutting down); 2: no answer."""
    command = [str(postgres.bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(cluster.port)]
    return run(command, check=False).returncode


def accepting(cluster: Any) -> bool:
    return pg_isready(cluster) == 0


def rejecting(cluster: Any) -> bool:
    return pg_isready(cluster) == 1


def restart_as(cluster: Any, *, standby: bool, hot_standby: bool = True) -> None:
    """Stop (fast) and start again, as a standby (``standby.signal``: recovery, no primary to follow) or a
    primary; a standby with ``hot_standby=off`` accepts no connection at all."""
    if postgres.is_running(cluster):
        pg_ctl(cluster, "-m", "fast", "-w", "stop")
    signal_file = cluster.data / "standby.signal"
    if standby:
        run(["touch", str(signal_file)], user=postgres.OS_USER)
    else:
        signal_file.unlink(missing_ok=True)
    flags = [f"-c hot_standby={'on' if hot_standby else 'off'}"]
    pg_ctl(cluster, *start_options(cluster, *flags), "-W", "start")
    wait_until(lambda: accepting(cluster) or (not hot_standby and rejecting(cluster)), 60, what="PostgreSQL")


def test_a_standby_that_accepts_no_connections_yet(own_cluster: tuple[Path, Any]) -> None:
    _directory, cluster = own_cluster
    restart_as(cluster, standby=True, hot_standby=False)
    try:
        db = Database(cluster.app_url)
        exc = asyncio.run(_ping_failure(db))
        assert "57P03" in sqlstates(exc), sqlstates(exc)  # "the database system is not accepting connections"
        assert is_transient_unavailability(exc)
    finally:
        restart_as(cluster, standby=False)


def test_a_demoted_primary_refuses_writes(own_cluster: tuple[Path, Any]) -> None:
    _directory, cluster = own_cluster
    restart_as(cluster, standby=True, hot_standby=True)
    try:
        db = Database(cluster.app_url)

        async def insert() -> BaseException:
            try:
                return await failure_of(lambda: _insert_tag(db))
            finally:
                await db.dispose()

        exc = asyncio.run(insert())
        assert "25006" in sqlstates(exc), sqlstates(exc)  # cannot execute INSERT in a read-only transaction
        assert is_transient_unavailability(exc)
    finally:
        restart_as(cluster, standby=False)


def test_a_server_shutting_down_then_stopped(own_cluster: tuple[Path, Any]) -> None:
    directory, cluster = own_cluster
    db = Database(cluster.app_url)

    async def scenario() -> tuple[BaseException, BaseException, BaseException]:
        held = await asyncpg.connect(dsn(cluster.app_url))  # a smart shutdown waits for this session
        pooled = db.engine.connect()
        connection = await pooled.__aenter__()
        await connection.execute(text("SELECT 1"))
        await asyncio.to_thread(pg_ctl, cluster, "-m", "smart", "-W", "stop")
        await asyncio.to_thread(wait_until, lambda: rejecting(cluster), 30, what="a shutting-down server")
        shutting_down = await failure_of(lambda: asyncpg.connect(dsn(cluster.app_url)))
        await held.close()
        await pooled.__aexit__(None, None, None)  # back to the pool
        await asyncio.to_thread(pg_ctl, cluster, "-m", "fast", "-w", "stop")
        lost = await failure_of(lambda: _select_one(db))  # the pooled connection's server is gone
        refused = await failure_of(db.ping)
        await db.dispose()
        return shutting_down, lost, refused

    try:
        shutting_down, lost, refused = asyncio.run(scenario())
    finally:
        postgres.up(directory, cluster.port)
    assert "57P03" in sqlstates(shutting_down), repr(shutting_down)  # "the database system is shutting down"
    assert is_transient_unavailability(shutting_down)
    assert is_transient_unavailability(lost), repr(lost)
    assert isinstance(refused, OSError), repr(refused)
    assert is_transient_unavailability(refused)


def test_requests_meeting_a_server_in_recovery_are_503_not_500(own_cluster: tuple[Path, Any]) -> None:
    """The error measured before as 500s under a crash (``the database system is not yet accepting
    connections``, raised through the registration batch): now 503 + Retry-After, on every endpoint."""
    from foundation.app import create_app

    _directory, cluster = own_cluster

    async def scenario() -> list[httpx.Response]:
        app = create_app(Settings(database_url=cluster.app_url, profile="test", read_cache_seconds=0))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            theme = f"/api/v1/tenants/{ALFA}/themes/current"
            responses = [await client.get(theme, headers={"X-Tenant-Id": ALFA})]
            await asyncio.to_thread(restart_as, cluster, standby=True, hot_standby=False)
            for method, path, body in every_endpoint("in-recovery"):
                responses.append(await call(client, method, path, body, "k-recovery"))
        await app.state.services[Database].dispose()
        return responses

    try:
        first, *during = asyncio.run(scenario())
    finally:
        restart_as(cluster, standby=False)
    # The tenant is resolved and cached, so the scaffold POST takes the fast path.
    assert first.status_code == 200
    for response in during:
        assert_unavailable(response)


async def _ping_failure(db: Database) -> BaseException:
    try:
        return await failure_of(db.ping)
    finally:
        await db.dispose()


async def _insert_tag(db: Database) -> None:
    async with db.write(uuid.UUID(ALFA)) as connection:
        await connection.execute(INSERT_TAG, {"id": uuid.uuid4(), "tenant": ALFA})


async def _select_one(db: Database) -> None:
    async with db.read() as connection:
        await connection.execute(text("SELECT 1"))
