"""Core API benchmark with wrk: req/s and latency percentiles at 1 and 50 connections.

Starts the API (``foundation serve``) and, served the same way (uvicorn, same host, same worker count), a
bare Starlette endpoint returning a small JSON document as the ceiling. Endpoints: theme GET, theme GET
answered 304, tenant-metrics GET, stories GET, scaffold POST with unique keys (wrk Lua), bare Starlette.
Rate limits stay enabled but are raised for the run so the limiter is exercised without dominating.

    python bench/api_throughput.py                       # SQLite, 1 worker
    python bench/api_throughput.py --postgres --workers 2  # needs `make db-up` (private cluster)
    python bench/api_throughput.py --write-docs          # append the table to docs/benchmarks.md
    python bench/api_throughput.py --only scaffold --connections 50   # one endpoint (and no ceiling)

Results (and the exact command) go to stdout as a Markdown table; ``--write-docs`` also records them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import httpx

from foundation.http import listeners
from foundation.http.server_protocol import PROTOCOL_PATH
from foundation.ops.procs import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
ALFA = "00000000-0000-0000-0000-000000000001"
RAISED = "1000000"

DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"status_errors":%d,'
    .. '"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""

SCAFFOLD_LUA = r"""
local counter = 0
local threads = {}
setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  local slug = string.format("b-%s-%d-%d", RUN, tid, counter)
  local body = '{"featureSlug":"' .. slug .. '","initiatedBy":"8a0b5f0e-8c55-4c5e-9a43-3f1c2f0d0a11",'
    .. '"slices":[{"slice":"features","files":[{"path":"src/features/x/index.ts","checksum":"'
    .. string.rep("a", 64) .. '"}]}],"lintCommitHash":"' .. string.rep("b", 40)
    .. '","scReferences":["@SC-001"],"durationMs":90000}'
  local headers = {["Content-Type"] = "application/json", ["X-Tenant-Id"] = TENANT,
                   ["Idempotency-Key"] = slug}
  return wrk.format("POST", PATH, headers, body)
end
"""

BARE_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request):
        return JSONResponse({"status": "ok", "service": "ceiling"})

    app = Starlette(routes=[Route("/bare", hello)])
    """
)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        return httpx.get(url, timeout=2).status_code == 200

    wait_until(ready, timeout, 0.2, what=url, ignore=(httpx.HTTPError,))


def wait_all_workers(port: int, workers: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until every worker listens: ready means one answered, and a late one would start cold mid-run."""
    if workers <= 1 or not listeners.REUSE_PORT_BALANCES:
        return

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        return listeners.listening_sockets(port) >= workers

    wait_until(listening, timeout, 0.2, what=f"{workers} workers listening on {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def foundation(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "foundation.cli.main", *args]
    return subprocess.Popen(command, env=env, start_new_session=True, **kwargs)  # type: ignore[call-overload]


def create_pg_database(superuser_url: str, name: str, env: dict[str, str]) -> None:
    """A new, empty database for this run, owned like the cluster's own; ``env`` is pointed at it.

    Runs used to share the cluster's ``foundation`` database, so every run's registrations and SC-001
    samples stayed for the next: tenant metrics then counted ~280k samples per cache refresh (a 49 ms
    parallel scan on both cores) and the read p99 measured the previous runs, not this one.
    """
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    owner = make_url(env["FOUNDATION_MIGRATION_DATABASE_URL"]).username
    dsn = make_url(superuser_url).set(drivername="postgresql")

    async def create() -> None:
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            await connection.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        finally:
            await connection.close()
        connection = await asyncpg.connect(dsn.set(database=name).render_as_string(hide_password=False))
        try:
            await connection.execute(f'ALTER SCHEMA public OWNER TO "{owner}"')
        finally:
            await connection.close()

    asyncio.run(create())
    for key in ("FOUNDATION_DATABASE_URL", "FOUNDATION_MIGRATION_DATABASE_URL"):
        env[key] = make_url(env[key]).set(database=name).render_as_string(hide_password=False)


def analyze_pg_database(superuser_url: str, name: str) -> None:
    """Fresh planner statistics before a measured run, as autovacuum keeps them in a running deployment.

    A database created for the run has statistics from when its tables were empty (autovacuum looks at most
    once a minute); with them PostgreSQL looked up a batch's keys and slugs by tenant alone and filtered the
    rest, reading every registration of the tenant per batch (auto_explain: 550+ rows removed by the filter
    after 2 s of load), so the run measured a planner working from an empty table.
    """
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    async def analyze() -> None:
        dsn = make_url(superuser_url).set(drivername="postgresql", database=name)
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            await connection.execute("ANALYZE")
        finally:
            await connection.close()

    asyncio.run(analyze())


def drop_pg_database(superuser_url: str, name: str) -> None:
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    async def drop() -> None:
        dsn = make_url(superuser_url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def prepare_database(env: dict[str, str]) -> None:
    for args in (("db", "upgrade"), ("seed", "--demo-data")):
        process = foundation(*args, env=env, stdout=subprocess.DEVNULL)
        if process.wait() != 0:
            raise RuntimeError(f"foundation {' '.join(args)} failed")


def wrk(url: str, connections: int, seconds: int, script: Path) -> dict[str, float]:
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def lua(directory: Path, name: str, body: str) -> Path:
    path = directory / f"{name}.lua"
    path.write_text(body + DONE_LUA)
    return path


def server_pids(pid: int) -> list[int]:
    """The server's processes: the uvicorn supervisor (or the single process) and its workers."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU the server's processes have used so far (/proc/<pid>/stat, fields 14 and 15)."""
    total = 0
    for candidate in server_pids(pid):
        try:
            fields = Path(f"/proc/{candidate}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measured(url: str, connections: int, seconds: int, script: Path, server_pid: int) -> dict[str, float]:
    """One wrk run and the server's CPU per answered request: on a shared VM, req/s moves with the
    neighbours' load, CPU per request much less (docs/benchmarks.md)."""
    before = cpu_seconds(server_pid)
    data = wrk(url, connections, seconds, script)
    data["cpu_us"] = 1e6 * (cpu_seconds(server_pid) - before) / max(1, data["requests"])
    return data


def rss_mb(pid: int) -> list[float]:
    """Resident memory of the server's worker processes (children of the uvicorn supervisor, or itself)."""
    sizes = []
    for candidate in server_pids(pid):
        try:
            status = Path(f"/proc/{candidate}/status").read_text()
        except OSError:
            continue
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        sizes.append(kb / 1024)
    return sizes


def scripts(directory: Path, etag: str, tag: str = "") -> dict[str, tuple[str, Path]]:
    """wrk scripts per endpoint; each call gets its own run id, so scaffold slugs never repeat across runs."""
    directory = directory / (tag or "measured")
    directory.mkdir(exist_ok=True)
    run = uuid.uuid4().hex[:8]
    tenant_header = f'wrk.headers["X-Tenant-Id"] = "{ALFA}"\n'
    scaffold = f'RUN = "{run}"\nTENANT = "{ALFA}"\nPATH = "/api/v1/tenants/{ALFA}/features/scaffold"\n'
    return {
        "theme GET": (f"/api/v1/tenants/{ALFA}/themes/current", lua(directory, "theme", tenant_header)),
        "theme GET (304)": (
            f"/api/v1/tenants/{ALFA}/themes/current",
            lua(directory, "theme304", tenant_header + f"wrk.headers[\"If-None-Match\"] = '{etag}'\n"),
        ),
        "tenant-metrics GET": (f"/api/v1/tenant-metrics/{ALFA}/sc", lua(directory, "metrics", tenant_header)),
        "stories GET": ("/api/v1/design-system/stories", lua(directory, "stories", tenant_header)),
        "scaffold POST (unique keys)": (
            f"/api/v1/tenants/{ALFA}/features/scaffold",
            lua(directory, "scaffold", scaffold + SCAFFOLD_LUA),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="1,50")
    parser.add_argument("--postgres", action="store_true", help="use the private cluster from `make db-up`")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument(
        "--only", default="", help="run only endpoints whose name contains this text, e.g. 'scaffold'"
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="for both servers")
    parser.add_argument(
        "--warm-up", type=int, default=2, help="seconds of unrecorded load before each measured run"
    )
    parser.add_argument(
        "--shared-socket",
        action="store_true",
        help="several workers accept from one socket (uvicorn's way) instead of a socket each",
    )
    parser.add_argument(
        "--no-direct-dispatch",
        action="store_true",
        help="answer scaffold POSTs through the framework route (FOUNDATION_DIRECT_DISPATCH=false), for A/Bs",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        subprocess.run(["bash", str(ROOT / "scripts/system-deps.sh")], check=True)  # bash on PATH
    connections = [int(c) for c in args.connections.split(",")]

    work = Path(tempfile.mkdtemp(prefix="foundation-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_", "PROMETHEUS_"))}
    env.update(
        {
            f"FOUNDATION_RATE_LIMIT_{name}_PER_MINUTE": RAISED
            for name in ("SCAFFOLD", "SCAFFOLD_READ", "THEME_READ", "METRICS_READ", "STORIES_READ", "WRITE")
        }
    )
    env.update({"FOUNDATION_LOG_LEVEL": "WARNING", "FOUNDATION_VAR_DIR": str(work / "var")})
    if args.no_direct_dispatch:
        env["FOUNDATION_DIRECT_DISPATCH"] = "false"
    if args.postgres:
        exports = subprocess.run(
            [sys.executable, "-m", "foundation.ops.devtools.postgres", "env", "--dir", str(ROOT / "var/pg")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in exports.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip("'")
        superuser_url = env.pop("FOUNDATION_TEST_PG_URL")
        fresh_database = f"foundation_bench_{uuid.uuid4().hex[:8]}"
        create_pg_database(superuser_url, fresh_database, env)
        backend = "PostgreSQL 15 (private cluster, app role under RLS, a fresh database per run)"
    else:
        env["FOUNDATION_DATABASE_URL"] = f"sqlite+aiosqlite:///{work / 'foundation.db'}"
        backend = "SQLite (embedded, WAL)"
    prepare_database(env)

    api_port, bare_port = free_port(), free_port()
    (work / "bare_app.py").write_text(BARE_APP)
    api = foundation(
        "serve",
        "--port",
        str(api_port),
        "--workers",
        str(args.workers),
        "--loop",
        args.loop,
        *(["--no-reuse-port"] if args.shared_socket else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The ceiling is served like the API: uvicorn, same workers, listening sockets, loop and protocol class.
    bare = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from foundation.http import listeners; listeners.run('bare_app:app', host='127.0.0.1', "
            f"port={bare_port}, workers={args.workers}, loop={args.loop!r}, http={PROTOCOL_PATH!r}, "
            f"reuse_port={not args.shared_socket}, "
            "access_log=False, log_level='warning', server_header=False)",
        ],
        cwd=work,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: list[tuple[str, int, dict[str, float]]] = []
    try:
        base = f"http://127.0.0.1:{api_port}"
        wait_ready(f"{base}/health/ready", api)
        wait_ready(f"http://127.0.0.1:{bare_port}/bare", bare)
        if not args.shared_socket:
            wait_all_workers(api_port, args.workers, api)
            wait_all_workers(bare_port, args.workers, bare)
        etag = httpx.get(
            f"{base}/api/v1/tenants/{ALFA}/themes/current", headers={"X-Tenant-Id": ALFA}
        ).headers["ETag"]
        plans = scripts(work, etag)
        bare_script = lua(work, "bare", "")
        for conns in connections:
            warm = scripts(work, etag, tag=f"warm-{conns}")
            for name, (path, script) in plans.items():
                if args.only not in name:
                    continue
                if args.warm_up:
                    wrk(base + path, conns, args.warm_up, warm[name][1])
                if args.postgres:
                    analyze_pg_database(superuser_url, fresh_database)
                results.append((name, conns, measured(base + path, conns, args.seconds, script, api.pid)))
                print(f"{name:28} c={conns:<3} {results[-1][2]['rps']:9.1f} req/s", file=sys.stderr)
            if args.only and args.only not in "bare Starlette (ceiling)":
                continue
            if args.warm_up:
                wrk(f"http://127.0.0.1:{bare_port}/bare", conns, args.warm_up, bare_script)
            results.append(
                (
                    "bare Starlette (ceiling)",
                    conns,
                    measured(
                        f"http://127.0.0.1:{bare_port}/bare", conns, args.seconds, bare_script, bare.pid
                    ),
                )
            )
            print(f"{'bare Starlette':28} c={conns:<3} {results[-1][2]['rps']:9.1f} req/s", file=sys.stderr)
        memory = rss_mb(api.pid)
        total = sum(int(r[2]["requests"]) for r in results if not r[0].startswith("bare"))
    finally:
        stop(api)
        stop(bare)
        shutil.rmtree(work, ignore_errors=True)
        if args.postgres:
            drop_pg_database(superuser_url, fresh_database)

    report = render(results, args, backend, memory, total)
    print(report)
    if args.write_docs:
        docs = ROOT / "docs/benchmarks.md"
        existing = docs.read_text() if docs.exists() else "# Benchmarks\n"
        docs.write_text(existing.rstrip() + "\n\n" + report)


def render(
    results: list[tuple[str, int, dict[str, float]]],
    args: argparse.Namespace,
    backend: str,
    memory: list[float],
    total: int,
) -> str:
    ceilings = {conns: data["rps"] for name, conns, data in results if name.startswith("bare")}
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    command = "python bench/api_throughput.py " + " ".join(
        part
        for part in (
            f"--workers {args.workers}",
            "--postgres" if args.postgres else "",
            f"--seconds {args.seconds}",
            f"--loop {args.loop}" if args.loop != "asyncio" else "",
            f"--warm-up {args.warm_up}" if args.warm_up != 2 else "",
            "--shared-socket" if args.shared_socket else "",
        )
        if part
    )
    listening = (
        "one shared socket"
        if args.shared_socket
        else "a socket each (SO_REUSEPORT; measured once every worker listened)"
    )
    lines = [
        f"## Core API — {backend}, {args.workers} worker(s)",
        "",
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; machine: {os.cpu_count()} cores "
        f"({cpu}), wrk on the same machine; command: `{command}`",
        f"- Rate limits enabled but raised to {RAISED}/min for every class during the run. Access log off "
        "(`FOUNDATION_LOG_LEVEL=WARNING`), as for the ceiling. Event loop: "
        f"{args.loop} for both servers. Each measured run follows {args.warm_up} s of unrecorded load at "
        "the same concurrency (the first second after a start is slower, see docs/operations.md)."
        + (f" Workers listen on {listening}, for both servers." if args.workers > 1 else ""),
        f"- Resident memory of the server process(es) after {total:,} API requests: "
        + ", ".join(f"{mb:.0f} MB" for mb in memory),
        "",
        "| endpoint | conns | req/s | % of ceiling | p50 ms | p90 ms | p99 ms | errors | server CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, conns, data in results:
        share = 100 * data["rps"] / ceilings[conns] if ceilings.get(conns) else 0
        errors = int(data["socket_errors"] + data["status_errors"])
        lines.append(
            f"| {name} | {conns} | {data['rps']:.0f} | {share:.0f} % | {data['p50'] / 1000:.1f} | "
            f"{data['p90'] / 1000:.1f} | {data['p99'] / 1000:.1f} | {errors} | {data['cpu_us']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
