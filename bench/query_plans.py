"""Query plans of every endpoint's statements, as the database executes them (docs/performance-plans.md).

The statements are not written out by hand: the real app runs each request in process (response caches
off, so every read reaches the database) against a database loaded through the service layer, an
SQLAlchemy listener records what it sends, and each recorded statement is explained with its own parameters
— SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL ``EXPLAIN`` as the application role in the request's tenant
context (row-level security included), and a registration batch's statements in the batch role and tenant
list it entered (foundation.db.Database.open_batch). The cross-tenant statements inside the SECURITY
DEFINER functions of migration 0006 are explained as the owner in the maintenance scope they run in.

A statement on a growing table (registrations, idempotency records, samples) whose plan reads the table
without an index is flagged; the script exits 1 when there is one.

    python bench/query_plans.py                          # SQLite, printed
    python bench/query_plans.py --postgres               # both backends (needs `make db-up`)
    python bench/query_plans.py --postgres --write docs/performance-plans.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_common as sc

from foundation.app import create_app
from foundation.db import Database
from foundation.observability.scrape import MetricsEndpoint
from foundation.ops.devtools.bulk_load import REPLAY_KEY, LoadPlan, replay_body
from foundation.scaffolds.retention import purge_expired
from foundation.settings import Settings

# Tables that grow with registrations and samples (sc001_histograms has a row per tenant: read whole).
GROWING = ("sc_samples", "scaffold_registrations", "idempotency_records")
ALIAS = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(?!WHERE|JOIN|ON|ORDER|LIMIT|SET)(\w+))?", re.I
)
SKIP = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SELECT 1\b|SELECT set_config|SELECT pg_try_advisory|PRAGMA)", re.I
)
ENTER_BATCH = re.compile(r"^\s*SELECT set_config\('role',", re.I)
DEFINER = re.compile(r"\bfoundation_(sc001_histograms|sc001_recent|purge_idempotency)\(")
PLAN_NODE = re.compile(r"^\s*(->\s+)?[A-Z][A-Za-z ]+(\s+on\s+\S+.*)?\s+\(cost=")


@dataclass
class Statement:
    sql: str
    parameters: Any
    plan: list[str] = field(default_factory=list)
    # PostgreSQL: the (role, app.tenant_ids) a registration batch entered before it (Database.open_batch).
    batch: tuple[str, str] | None = None

    @property
    def unindexed(self) -> list[str]:
        """Plan lines that read a growing table without an index (SQLite names the alias, if any)."""
        names = set(GROWING)
        for table, alias in ALIAS.findall(self.sql):
            if table in GROWING and alias:
                names.add(alias)
        pattern = re.compile(r"^(SCAN|Seq Scan on) (\w+)")
        flagged = []
        for line in self.plan:
            found = pattern.match(line.strip().lstrip("->").strip())
            if found and found.group(2) in names and " USING " not in line:
                flagged.append(line.strip())
        return flagged


@dataclass
class Scenario:
    name: str
    statements: list[Statement] = field(default_factory=list)


@contextmanager
def recording(engines: list[Any], into: list[Statement]) -> Iterator[None]:
    batches: dict[int, tuple[str, str]] = {}  # by connection: the batch role entered in its transaction

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if ENTER_BATCH.match(statement):
            batches[id(conn)] = (parameters[0], parameters[1])
        elif re.match(r"^\s*(COMMIT|ROLLBACK)", statement, re.I):
            batches.pop(id(conn), None)
        if not SKIP.match(statement):
            kept = Statement(statement, parameters[0] if many and parameters else parameters)
            kept.batch = batches.get(id(conn))
            into.append(kept)

    def ended(conn: Any) -> None:
        batches.pop(id(conn), None)

    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        event.listen(engine.sync_engine, "commit", ended)
        event.listen(engine.sync_engine, "rollback", ended)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
            event.remove(engine.sync_engine, "commit", ended)
            event.remove(engine.sync_engine, "rollback", ended)


async def scenarios(backend: sc.Backend, tenant: str) -> list[Scenario]:
    settings = Settings(
        database_url=backend.env["FOUNDATION_DATABASE_URL"],
        profile="test",
        log_level="WARNING",
        rate_limit_enabled=False,
        read_cache_seconds=0,
        metrics_cache_seconds=0,
    )
    app = create_app(settings)
    db: Database = app.state.services[Database]
    headers = {"X-Tenant-Id": tenant}
    replay = replay_body()
    new = {**replay, "featureSlug": "plans-new"}
    requests: list[tuple[str, Callable[[httpx.AsyncClient], Any]]] = [
        ("theme GET", lambda c: c.get(f"/api/v1/tenants/{tenant}/themes/current", headers=headers)),
        (
            "tenant metrics GET ?code=SC-001 (page 1)",
            lambda c: c.get(f"/api/v1/tenant-metrics/{tenant}/sc?code=SC-001&per_page=10", headers=headers),
        ),
        (
            "tenant metrics GET ?code=SC-001&page=1000000",
            lambda c: c.get(
                f"/api/v1/tenant-metrics/{tenant}/sc?code=SC-001&per_page=10&page=1000000", headers=headers
            ),
        ),
        (
            "tenant metrics GET (all codes, since)",
            lambda c: c.get(
                f"/api/v1/tenant-metrics/{tenant}/sc?since=2020-01-01T00:00:00Z", headers=headers
            ),
        ),
        ("stories GET", lambda c: c.get("/api/v1/design-system/stories", headers=headers)),
        (
            "scaffold POST new",
            lambda c: c.post(
                f"/api/v1/tenants/{tenant}/features/scaffold",
                json=new,
                headers={**headers, "Idempotency-Key": "plans-new"},
            ),
        ),
        (
            "scaffold POST replay",
            lambda c: c.post(
                f"/api/v1/tenants/{tenant}/features/scaffold",
                json=replay,
                headers={**headers, "Idempotency-Key": REPLAY_KEY},
            ),
        ),
        (
            "scaffold GET",
            lambda c: c.get(f"/api/v1/tenants/{tenant}/features/scaffold/{REPLAY_KEY}", headers=headers),
        ),
        (
            "scaffold list GET (page 1)",
            lambda c: c.get(f"/api/v1/tenants/{tenant}/features/scaffold", headers=headers),
        ),
        ("GET /metrics (database part)", lambda c: c.get("/metrics")),
    ]
    out: list[Scenario] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://plans") as client:
        # Tenant lookups are cached per process after the first request: warm them, plans come after.
        await client.get(f"/api/v1/tenants/{tenant}/themes/current", headers=headers)
        engines = [db.engine, app.state.services[MetricsEndpoint].sc001.engine]  # type: ignore[union-attr]
        for name, send in requests:
            scenario = Scenario(name)
            with recording(engines, scenario.statements):
                response = await send(client)
            if response.status_code >= 400:
                raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
            out.append(scenario)
        purge = Scenario("purge batch (`foundation db purge`, background task)")
        with recording([db.engine], purge.statements):
            await purge_expired(db)
        out.append(purge)
    await db.dispose()
    return out


def explain_sqlite(path: Path, items: list[Scenario]) -> None:
    connection = sqlite3.connect(path)
    try:
        for scenario in items:
            for statement in scenario.statements:
                rows = connection.execute(f"EXPLAIN QUERY PLAN {statement.sql}", statement.parameters or ())
                statement.plan = _tree(rows.fetchall())
    finally:
        connection.close()


def _tree(rows: list[tuple[int, int, int, str]]) -> list[str]:
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


async def explain_postgres(backend: sc.Backend, items: list[Scenario], tenant_id: str) -> None:
    """``EXPLAIN`` as the application role in the tenant's context; the statements inside the SECURITY
    DEFINER functions through auto_explain (nested statements, as executed, with the functions' settings)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    app_url = make_url(backend.env["FOUNDATION_DATABASE_URL"])
    connection = await asyncpg.connect(
        app_url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        for scenario in items:
            for statement in scenario.statements:
                if DEFINER.search(statement.sql):
                    statement.plan = await _auto_explain(backend, str(app_url.username), statement)
                    continue
                async with connection.transaction():
                    await connection.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
                    if statement.batch:  # as the registration batch ran it: its role and tenant list
                        await connection.execute(
                            "SELECT set_config('role', $1, true), set_config('app.tenant_ids', $2, true)",
                            *statement.batch,
                        )
                    rows = await connection.fetch(f"EXPLAIN {statement.sql}", *(statement.parameters or ()))
                statement.plan = [row[0] for row in rows]
    finally:
        await connection.close()


async def _auto_explain(backend: sc.Backend, role: str, statement: Statement) -> list[str]:
    """Run the call as ``role`` (rolled back); keep the plans auto_explain reports for nested statements."""
    import asyncpg
    from sqlalchemy.engine import make_url

    assert backend.superuser_url is not None
    dsn = make_url(backend.superuser_url).set(drivername="postgresql", database=backend.database)
    connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    notices: list[str] = []
    connection.add_log_listener(lambda _connection, message: notices.append(message.message))
    try:
        await connection.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_level = notice"):
            await connection.execute(f"SET auto_explain.{setting}")
        await connection.execute(f'SET ROLE "{role}"')
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.fetch(statement.sql, *(statement.parameters or ()))
        finally:
            await transaction.rollback()
    finally:
        await connection.close()
    plans: list[str] = []
    for message in notices:
        lines = message.splitlines()
        text_at = next((i for i, line in enumerate(lines) if line.startswith("Query Text:")), None)
        if text_at is None or DEFINER.search(lines[text_at]) or "set_config(" in lines[text_at]:
            continue  # the top-level call itself (a Function Scan), or the scope being set
        first_node = next(i for i in range(text_at, len(lines)) if PLAN_NODE.match(lines[i]))
        query = " ".join(line.strip() for line in lines[text_at:first_node]).removeprefix("Query Text:")
        plans += [f"-- inside the function: {_compact(query)}", *lines[first_node:]]
    return plans


def render(backend: str, plan: LoadPlan, items: list[Scenario]) -> str:
    lines = [
        f"## {backend}",
        "",
        f"Data: {plan.tenants:,} tenants, {plan.registrations:,} registrations "
        f"({plan.registrations // plan.tenants:,} per tenant), {plan.samples_per_tenant} other samples each.",
        "",
    ]
    for scenario in items:
        lines += [f"### {scenario.name}", ""]
        if not scenario.statements:
            lines += ["No statement (answered without the database).", ""]
        for statement in scenario.statements:
            flag = " — **NOT INDEX-BACKED**" if statement.unindexed else ""
            lines += [
                "```sql",
                _compact(statement.sql),
                "```",
                f"Plan{flag}:",
                "```",
                *(statement.plan or ["(nothing to plan: an INSERT of values)"]),
                "```",
                "",
            ]
    return "\n".join(lines)


def _compact(sql: str) -> str:
    return re.sub(r"[ \t]+", " ", sql).strip()


def run_backend(postgres: bool, plan: LoadPlan, root: Path) -> tuple[str, list[Scenario]]:
    work = root / ("postgres" if postgres else "sqlite")
    work.mkdir()
    backend = sc.make_backend(postgres, work, "WARNING")
    try:
        sc.migrate(backend)
        loaded = sc.load(backend, plan)
        tenant = loaded["tenant_ids"][len(loaded["tenant_ids"]) // 2]
        items = asyncio.run(scenarios(backend, tenant))
        if postgres:
            backend.vacuum_analyze()
            asyncio.run(explain_postgres(backend, items, tenant))
        else:
            explain_sqlite(work / "foundation.db", items)
        return ("PostgreSQL" if postgres else "SQLite"), items
    finally:
        backend.drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--registrations", type=int, default=40_000)
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL (private cluster)")
    parser.add_argument("--write", type=Path, default=None, help="write the Markdown document there")
    args = parser.parse_args()
    plan = LoadPlan(args.tenants, args.registrations, expired_fraction=0.05)
    root = Path(tempfile.mkdtemp(prefix="foundation-plans-"))
    sections = []
    flagged = 0
    try:
        for postgres in (False, True) if args.postgres else (False,):
            name, items = run_backend(postgres, plan, root)
            sections.append(render(name, plan, items))
            for scenario in items:
                for statement in scenario.statements:
                    if statement.unindexed:
                        flagged += 1
                        sc.progress(f"{name} {scenario.name}: not index-backed: {statement.unindexed}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    document = "\n\n".join(
        [
            "# Query plans of the API's statements",
            "Generated by `python bench/query_plans.py"
            + (" --postgres" if args.postgres else "")
            + f" --tenants {args.tenants} --registrations {args.registrations}` on "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d}; do not edit by hand. Each statement is the one the API "
            "sent for the request named in the heading (recorded in process, response caches off), explained "
            "with its own parameters. Statements on the growing tables (registrations, idempotency records, "
            "samples) must be index-backed; a plan that reads one of them without an index is marked "
            "**NOT INDEX-BACKED** and makes the script exit 1. Statements run by triggers (the "
            "`sc001_histograms` upsert after each registration's sample) are not recorded: they touch one "
            "row by primary key.",
            *sections,
        ]
    )
    if args.write:
        args.write.write_text(document + "\n")
        sc.progress(f"wrote {args.write}")
    else:
        print(document)
    sys.exit(1 if flagged else 0)


if __name__ == "__main__":
    main()
