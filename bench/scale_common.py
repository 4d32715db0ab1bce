"""Shared by bench/growth.py and bench/tenants_workload.py: a fresh database per run (SQLite file or a new
PostgreSQL database on the private cluster of `make db-up`), bulk data through the service layer
(foundation.ops.devtools.bulk_load), a real `foundation serve`, and wrk with Lua scripts that pick a random
tenant per request and count answers by status.

Progress goes to stderr with a timestamp; every server and wrk process is started in its own process group
and stopped by its id.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import api_throughput as harness  # noqa: E402

from foundation.ops.devtools import bulk_load  # noqa: E402

DONE_LUA = r"""
done = function(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    local counted = t:get("statuses")
    for status, n in pairs(counted) do merged[status] = (merged[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, string.format('"%d":%d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"timeouts":%d,'
    .. '"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,"statuses":{%s}}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ",")))
end
"""

PROLOGUE_LUA = r"""
threads = {}
setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
init = function(args)
  math.randomseed(os.time() * 100 + tid)
  statuses = {}
  counter = 0
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
pick = function() return TENANTS[math.random(#TENANTS)] end
"""

# One request function per endpoint; `t` is a random tenant id, sent as X-Tenant-Id like a real client.
REQUESTS_LUA = {
    "theme GET": r"""
request = function()
  local t = pick()
  return wrk.format("GET", "/api/v1/tenants/" .. t .. "/themes/current", {["X-Tenant-Id"] = t})
end
""",
    "tenant metrics GET": r"""
request = function()
  local t = pick()
  return wrk.format("GET", "/api/v1/tenant-metrics/" .. t .. "/sc?code=SC-001&per_page=10",
                    {["X-Tenant-Id"] = t})
end
""",
    "tenant metrics GET page=1000000": r"""
request = function()
  local t = pick()
  return wrk.format("GET", "/api/v1/tenant-metrics/" .. t .. "/sc?code=SC-001&per_page=10&page=1000000",
                    {["X-Tenant-Id"] = t})
end
""",
    "stories GET": r"""
request = function()
  local t = pick()
  return wrk.format("GET", "/api/v1/design-system/stories", {["X-Tenant-Id"] = t})
end
""",
    "scaffold POST new": r"""
request = function()
  counter = counter + 1
  local t = pick()
  local slug = string.format("w-%s-%d-%d", RUN, tid, counter)
  local body = '{"featureSlug":"' .. slug .. '","initiatedBy":"8a0b5f0e-8c55-4c5e-9a43-3f1c2f0d0a11",'
    .. '"slices":[{"slice":"features","files":[{"path":"src/features/x/index.ts","checksum":"'
    .. string.rep("a", 64) .. '"}]}],"lintCommitHash":"' .. string.rep("b", 40)
    .. '","scReferences":["@SC-001"],"durationMs":90000}'
  return wrk.format("POST", "/api/v1/tenants/" .. t .. "/features/scaffold",
    {["Content-Type"] = "application/json", ["X-Tenant-Id"] = t, ["Idempotency-Key"] = slug}, body)
end
""",
    "scaffold POST replay": r"""
request = function()
  local t = pick()
  return wrk.format("POST", "/api/v1/tenants/" .. t .. "/features/scaffold",
    {["Content-Type"] = "application/json", ["X-Tenant-Id"] = t, ["Idempotency-Key"] = REPLAY_KEY},
    REPLAY_BODY)
end
""",
    "GET /metrics": r"""
request = function()
  return wrk.format("GET", "/metrics")
end
""",
    # As Prometheus scrapes: it always sends Accept-Encoding: gzip.
    "GET /metrics gzip": r"""
request = function()
  return wrk.format("GET", "/metrics", {["Accept-Encoding"] = "gzip"})
end
""",
}
READS = ("theme GET", "tenant metrics GET", "stories GET")


def _priming_request(endpoint: str, tenant: str) -> tuple[str, str, dict[str, str], str | None]:
    """(method, path, headers, body) of ``endpoint`` for one tenant, as REQUESTS_LUA sends it."""
    headers = {"X-Tenant-Id": tenant}
    if endpoint == "theme GET":
        return "GET", f"/api/v1/tenants/{tenant}/themes/current", headers, None
    if endpoint == "tenant metrics GET":
        return "GET", f"/api/v1/tenant-metrics/{tenant}/sc?code=SC-001&per_page=10", headers, None
    if endpoint == "stories GET":
        return "GET", "/api/v1/design-system/stories", headers, None
    if endpoint == "scaffold POST replay":
        headers |= {"Idempotency-Key": bulk_load.REPLAY_KEY, "Content-Type": "application/json"}
        return (
            "POST",
            f"/api/v1/tenants/{tenant}/features/scaffold",
            headers,
            json.dumps(bulk_load.replay_body()),
        )
    raise ValueError(f"{endpoint} is not primed")


def prime_rounds(workers: int, miss: float = 0.01) -> int:
    """Rounds of priming after which a given worker has served a given tenant with probability ≥ 1 − ``miss``.

    Each round opens new connections, and the kernel spreads connections over the workers' sockets at random,
    so one round primes each worker with about 1/``workers`` of the tenants. A deployment's steady state has
    every worker holding every active tenant (each is read every few seconds, answers live 300 s)."""
    if workers <= 1:
        return 1
    return math.ceil(math.log(miss) / math.log(1 - 1 / workers))


def prime(server: Server, ids: list[str], endpoints: Sequence[str], concurrency: int = 20) -> dict[str, Any]:
    """Requests of each of ``endpoints`` for every tenant until every worker is likely to hold its answers and
    its series are in /metrics (``prime_rounds``: 1 round for one worker, 7 for two).

    A request that fails on the connection (a keep-alive connection the server closed as it was reused) is
    retried twice; answers that are not 2xx are counted, not raised."""
    failures: dict[str, int] = {}
    rounds = prime_rounds(server.workers)

    async def run() -> None:
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for tenant in ids:
            for endpoint in endpoints:
                queue.put_nowait((endpoint, tenant))

        async def worker(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                method, path, headers, body = _priming_request(*queue.get_nowait())
                outcome = "transport error"
                for _attempt in range(3):
                    try:
                        status = (
                            await client.request(method, path, headers=headers, content=body)
                        ).status_code
                    except httpx.TransportError:
                        continue
                    outcome = str(status)
                    break
                if not outcome.startswith("2"):
                    failures[outcome] = failures.get(outcome, 0) + 1

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await asyncio.gather(*(worker(client) for _ in range(concurrency)))

    started = time.perf_counter()
    for _round in range(rounds):
        asyncio.run(run())  # a new client each round: new connections, spread over the workers anew
    return {"seconds": round(time.perf_counter() - started, 1), "rounds": rounds, "not_2xx": failures}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Backend:
    """A fresh database for one run; ``env`` is what the CLI and the server are started with."""

    kind: str  # "sqlite" | "postgres"
    env: dict[str, str]
    work: Path
    superuser_url: str | None = None
    database: str | None = None

    @property
    def owner_url(self) -> str:
        return self.env.get("FOUNDATION_MIGRATION_DATABASE_URL") or self.env["FOUNDATION_DATABASE_URL"]

    def size_bytes(self) -> int:
        if self.kind == "sqlite":
            base = self.work / "foundation.db"
            return sum(p.stat().st_size for p in (base, Path(f"{base}-wal")) if p.exists())
        return int(self._superuser("SELECT pg_database_size($1)", self.database))

    def vacuum_analyze(self) -> None:
        """What autovacuum does in a running deployment: planner statistics and the visibility map."""
        if self.kind == "postgres":
            self._superuser("VACUUM (ANALYZE)", database=self.database)

    def drop(self) -> None:
        if self.kind == "postgres" and self.superuser_url and self.database:
            harness.drop_pg_database(self.superuser_url, self.database)

    def _superuser(self, statement: str, *args: Any, database: str | None = None) -> Any:
        import asyncpg
        from sqlalchemy.engine import make_url

        assert self.superuser_url is not None

        async def run() -> Any:
            dsn = make_url(self.superuser_url).set(drivername="postgresql", database=database or "postgres")
            connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
            try:
                if statement.startswith("VACUUM"):
                    return await connection.execute(statement)
                return await connection.fetchval(statement, *args)
            finally:
                await connection.close()

        return asyncio.run(run())


def base_env(work: Path, log_level: str | None) -> dict[str, str]:
    """The server's environment: defaults everywhere (rate limits, log level, caches) unless asked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_", "PROMETHEUS_"))}
    env["FOUNDATION_VAR_DIR"] = str(work / "var")
    if log_level:
        env["FOUNDATION_LOG_LEVEL"] = log_level
    return env


def make_backend(postgres: bool, work: Path, log_level: str | None) -> Backend:
    env = base_env(work, log_level)
    if not postgres:
        env["FOUNDATION_DATABASE_URL"] = f"sqlite+aiosqlite:///{work / 'foundation.db'}"
        return Backend("sqlite", env, work)
    exports = subprocess.run(
        [sys.executable, "-m", "foundation.ops.devtools.postgres", "env", "--dir", str(ROOT / "var/pg")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in exports.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip("'")
    superuser_url = env.pop("FOUNDATION_TEST_PG_URL")
    database = f"foundation_scale_{uuid.uuid4().hex[:8]}"
    harness.create_pg_database(superuser_url, database, env)
    return Backend("postgres", env, work, superuser_url, database)


def migrate(backend: Backend) -> None:
    process = harness.foundation("db", "upgrade", env=backend.env, stdout=subprocess.DEVNULL)
    if process.wait() != 0:
        raise RuntimeError("foundation db upgrade failed")


def load(backend: Backend, plan: bulk_load.LoadPlan, cache: Path | None = None) -> dict[str, Any]:
    """Bulk data through the service layer, as the schema owner (tenants are not the API role's to create).

    SQLite with ``cache``: a database loaded for the same plan and schema before is copied instead (loading
    10,000 tenants takes minutes); the first load is kept there. The key includes the migration files, so a
    schema change loads anew."""
    import hashlib
    import shutil

    from foundation.db import Database
    from foundation.migrations.runner import MIGRATIONS_DIR

    key = None
    if cache is not None and backend.kind == "sqlite":
        digest = hashlib.sha256(repr(plan).encode())
        for migration in sorted(MIGRATIONS_DIR.glob("versions/*.py")):
            digest.update(migration.read_bytes())
        key = cache / f"sqlite-{plan.tenants}-{plan.registrations}-{digest.hexdigest()[:12]}"
        if key.with_suffix(".db").exists():
            progress(f"reusing the database loaded before: {key.with_suffix('.db')}")
            shutil.copyfile(key.with_suffix(".db"), backend.work / "foundation.db")
            return {**json.loads(key.with_suffix(".json").read_text()), "reused": str(key.with_suffix(".db"))}

    async def run() -> bulk_load.LoadReport:
        db = Database(backend.owner_url)
        try:
            return await bulk_load.load(db, plan, progress)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    backend.vacuum_analyze()
    loaded = {
        "tenants": len(report.tenants),
        "registrations": report.registrations,
        "seconds": report.seconds,
        "tenant_ids": [str(t.id) for t in report.tenants],
    }
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        import sqlite3

        with sqlite3.connect(backend.work / "foundation.db") as connection:  # everything into the main file
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(backend.work / "foundation.db", key.with_suffix(".db"))
        key.with_suffix(".json").write_text(json.dumps(loaded))
    return loaded


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    workers: int
    log: Path

    def stop(self) -> None:
        harness.stop(self.process)


def start_server(backend: Backend, workers: int, extra_env: dict[str, str] | None = None) -> Server:
    port = harness.free_port()
    log = backend.work / f"server-{port}.log"
    env = {**backend.env, **(extra_env or {})}
    with log.open("wb") as out:
        process = harness.foundation(
            "serve", "--port", str(port), "--workers", str(workers), env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    harness.wait_ready(f"{url}/health/ready", process, timeout=120)
    harness.wait_all_workers(port, workers, process, timeout=120)
    return Server(process, url, port, workers, log)


def lua_script(directory: Path, endpoint: str, tenant_ids: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tenants = ",\n".join(f'"{t}"' for t in tenant_ids)
    body = json.dumps(bulk_load.replay_body(), separators=(",", ":"))
    header = (
        f"TENANTS = {{\n{tenants}\n}}\n"
        f'RUN = "{uuid.uuid4().hex[:8]}"\n'
        f'REPLAY_KEY = "{bulk_load.REPLAY_KEY}"\n'
        f"REPLAY_BODY = [==[{body}]==]\n"
    )
    name = "".join(ch if ch.isalnum() else "-" for ch in endpoint)
    path = directory / f"{name}-{uuid.uuid4().hex[:6]}.lua"
    path.write_text(header + PROLOGUE_LUA + REQUESTS_LUA[endpoint] + DONE_LUA)
    return path


@dataclass
class WrkResult:
    endpoint: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    socket_errors: int
    cpu_us: float = 0.0  # the server's CPU (every process, user + system) per answered request
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """5xx answers and socket errors (timeouts included); 429s are counted apart."""
        return self.socket_errors + sum(n for s, n in self.statuses.items() if s.startswith("5"))

    @property
    def rate_limited(self) -> int:
        return self.statuses.get("429", 0)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "errors": self.errors, "rate_limited": self.rate_limited}


def wrk(server: Server, endpoint: str, tenant_ids: list[str], connections: int, seconds: float) -> WrkResult:
    script = lua_script(server.log.parent / "lua", endpoint, tenant_ids)
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    command += ["-s", str(script), server.url]
    cpu_before = harness.cpu_seconds(server.process.pid)
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    cpu = harness.cpu_seconds(server.process.pid) - cpu_before
    line = next(line for line in output.splitlines() if line.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    elapsed = data["duration_us"] / 1e6
    return WrkResult(
        endpoint,
        connections,
        round(elapsed, 2),
        data["requests"],
        round(data["requests"] / elapsed, 1),
        data["p50"] / 1000,
        data["p90"] / 1000,
        data["p99"] / 1000,
        data["max"] / 1000,
        {str(k): v for k, v in data["statuses"].items()},
        data["socket_errors"],
        round(1e6 * cpu / max(1, data["requests"]), 1),
    )


def wait_for_scorecard(server: Server, timeout: float = 300.0) -> float:
    """Seconds until ``/metrics`` carries the first scorecard snapshot. Its first computation reads every
    sample of the window (7–10 s at 1,000,000 registrations): scrapes before it ends wait, at most the
    metrics database timeout, and leave the family out — start-up, not the steady state measured here."""
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        while "\nfoundation_sc_scorecard_computed_timestamp_seconds " not in client.get("/metrics").text:
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"no scorecard snapshot in /metrics after {timeout:.0f} s")
            time.sleep(1.0)
    return round(time.perf_counter() - started, 1)


def scrape_latencies(server: Server, count: int, spacing: float) -> dict[str, Any]:
    """``count`` scrapes, ``spacing`` seconds apart (past the render cache: each one renders)."""
    latencies, sizes, statuses = [], [], []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(count):
            time.sleep(spacing)
            started = time.perf_counter()
            response = client.get("/metrics")
            latencies.append((time.perf_counter() - started) * 1000)
            statuses.append(response.status_code)
            sizes.append(len(response.content))
        text = response.text
    errors = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("foundation_metrics_scrape_errors_total{")
    )
    return {
        "bytes": sizes[-1],
        "scrapes": count,
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "max_ms": round(max(latencies), 1),
        "latencies_ms": [round(latency, 1) for latency in latencies],
        "non_200": sum(1 for s in statuses if s != 200),
        "scrape_errors_total": errors,
        "series": sum(1 for line in text.splitlines() if line and not line.startswith("#")),
    }


def serving_pids(server: Server) -> list[int]:
    """The processes that answer requests: with one worker the server process itself, else the workers
    uvicorn spawned (not the supervisor, nor multiprocessing's resource tracker)."""
    pid = server.process.pid
    if server.workers == 1:
        return [pid]
    pids = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                pids.append(int(child))
        except OSError:
            continue
    return pids


def rss_per_worker(server: Server) -> list[float]:
    """Resident MB of each serving process."""
    return [round(harness.rss_mb(pid)[0], 1) for pid in serving_pids(server)]


@contextmanager
def py_spy(server: Server, seconds: float, output: Path | None) -> Iterator[None]:
    """With ``output``, sample every serving process with py-spy (a flame graph per process) while the block
    runs ``seconds``; without, nothing. Sampling costs the server a few percent: profile runs are not
    measurement runs."""
    if output is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    recorders = [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--nonblocking",
                "--output",
                str(output.with_name(f"{output.stem}-{pid}.svg")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in serving_pids(server)
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait()


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every many-tenants bench shares: backend, workers, wrk load, log level, cache, output."""
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="default: 1 (SQLite), 2 (PostgreSQL)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warm-up", type=float, default=2)
    parser.add_argument(
        "--log-level", default=None, help="FOUNDATION_LOG_LEVEL (default: INFO, access log on)"
    )
    parser.add_argument(
        "--db-cache", type=Path, default=None, help="SQLite: keep loaded databases here and reuse them"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FOUNDATION_NAME=VALUE",
        help="a server setting for an A/B run (repeatable); recorded with the results",
    )


def server_settings(args: argparse.Namespace) -> dict[str, str]:
    """The ``--set`` settings as environment variables (the app's, and the allocator's: ``PYTHONMALLOC``,
    ``MALLOC_*``); a malformed one stops the bench before it starts."""
    settings = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith(("FOUNDATION_", "PYTHONMALLOC", "MALLOC_")):
            expected = "FOUNDATION_NAME=VALUE, PYTHONMALLOC or MALLOC_…"
            raise SystemExit(f"error: --set {item!r}: expected {expected}")
        settings[name] = value
    return settings


def prepare_run(args: argparse.Namespace, name: str) -> tuple[Path, Path]:
    """Defaults that depend on the backend, the wrk check, and (JSON output path, scratch directory)."""
    args.workers = args.workers or (2 if args.postgres else 1)
    if shutil.which("wrk") is None:
        sys.exit("error: wrk not found; install it with scripts/system-deps.sh")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    output = args.json or ROOT / "var/bench" / f"{name}-{stamp}.json"
    return output, Path(tempfile.mkdtemp(prefix=f"foundation-{name}-"))
