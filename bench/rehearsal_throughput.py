"""Throughput through HAProxy with 1, 2 and 3 API instances, many tenants, a random tenant per request.

Starts the rehearsal fleet (``foundation.ops.rehearsal``: private PostgreSQL and Redis, N ``foundation
serve`` processes of one worker each, HAProxy in front, request logging off), creates ``--tenants`` tenants
with a current theme (tenant directory, then a theme PUT through the balancer) and reads each tenant's theme
once on every instance (the run then measures a fleet that has been serving these tenants, not first
lookups). For each instance count it puts the other instances in maintenance through HAProxy's runtime API
and runs wrk against the balancer: current-theme GETs and scaffold POSTs (unique keys), each for a random
tenant. It also reads the CPU time each component used during the measured run (``/proc/<pid>/stat``), so
that the result gives requests per CPU-second of the API — the figure a capacity plan can scale — even on a
machine where the instances share two cores with PostgreSQL, Redis, HAProxy and wrk. Rate limits are
enforced through Redis as deployed (raised so that none is hit); ``--rate-limits off`` measures the same
without them, which isolates what the shared store costs.

    python bench/rehearsal_throughput.py                          # 1, 2, 3 instances, 1,000 tenants
    python bench/rehearsal_throughput.py --instances 3 --seconds 5 --only theme
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from api_throughput import DONE_LUA

from foundation.ops.rehearsal.fleet import Fleet
from foundation.ops.rehearsal.haproxy import LIVE_BACKEND, READY_BACKEND

ROOT = Path(__file__).resolve().parents[1]
RAISED = "1000000"
THEME_LUA = r"""
local tenants = {TENANTS}
local seeded = false
request = function()
  if not seeded then math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)); seeded = true end
  local tenant = tenants[math.random(#tenants)]
  return wrk.format("GET", "/api/v1/tenants/" .. tenant .. "/themes/current", {["X-Tenant-Id"] = tenant})
end
"""
SCAFFOLD_LUA = r"""
local tenants = {TENANTS}
local counter = 0
local seeded = false
request = function()
  if not seeded then math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)); seeded = true end
  counter = counter + 1
  local tenant = tenants[math.random(#tenants)]
  local slug = string.format("b-%s-%s-%d", RUN, tostring({}):sub(8), counter)
  local body = '{"featureSlug":"' .. slug .. '","initiatedBy":"8a0b5f0e-8c55-4c5e-9a43-3f1c2f0d0a11",'
    .. '"slices":[{"slice":"features","files":[{"path":"src/features/x/index.ts","checksum":"'
    .. string.rep("a", 64) .. '"}]}],"lintCommitHash":"' .. string.rep("b", 40)
    .. '","scReferences":["@SC-001"],"durationMs":90000}'
  return wrk.format("POST", "/api/v1/tenants/" .. tenant .. "/features/scaffold",
    {["Content-Type"] = "application/json", ["X-Tenant-Id"] = tenant, ["Idempotency-Key"] = slug}, body)
end
"""


def wrk(url: str, connections: int, seconds: int, script: Path) -> dict[str, float]:
    """wrk with a 10 s request timeout (its default, 2 s, counts slow answers of a busy machine as errors)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRKJSON "))
    data: dict[str, float] = json.loads(line.removeprefix("WRKJSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def warm_tenants(fleet: Fleet, tenants: list[str]) -> None:
    """One theme GET per tenant on every instance: each instance resolves (and keeps) every tenant, as in a
    deployment that has been running; otherwise the run measures first lookups."""

    async def warm() -> None:
        gate = asyncio.Semaphore(8)
        async with httpx.AsyncClient(timeout=60) as client:

            async def one(url: str, tenant: str) -> None:
                async with gate:
                    for _attempt in range(5):  # a busy machine may answer 503 (pool wait); only warming here
                        response = await client.get(
                            f"{url}/api/v1/tenants/{tenant}/themes/current", headers={"X-Tenant-Id": tenant}
                        )
                        if response.status_code != 503:
                            break
                    response.raise_for_status()

            await asyncio.gather(*(one(i.url, t) for i in fleet.instances for t in tenants))

    asyncio.run(warm())


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, in seconds (Linux ``/proc/<pid>/stat``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def descendants(pid: int) -> list[int]:
    found, pending = [pid], [pid]
    while pending:
        parent = pending.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += map(int, children)
        pending += map(int, children)
    return found


def components(fleet: Fleet, active: int) -> dict[str, list[int]]:
    assert fleet.cluster is not None and fleet.balancer.process is not None
    postmaster = int((fleet.cluster.data / "postmaster.pid").read_text().splitlines()[0])
    redis_pid = json.loads((fleet.directory / "redis" / "redis.json").read_text())["pid"]
    return {
        "api": [pid for instance in fleet.instances[:active] for pid in descendants(instance.pid or 0)],
        "haproxy": [fleet.balancer.process.pid],
        "postgres": descendants(postmaster),
        "redis": [redis_pid],
    }


def use_instances(fleet: Fleet, active: int) -> None:
    """Only the first ``active`` instances take traffic: the others go to maintenance in both backends."""
    for number, instance in enumerate(fleet.instances):
        state = "ready" if number < active else "maint"
        for backend in (READY_BACKEND, LIVE_BACKEND):
            fleet.balancer.command(f"set server {backend}/{instance.name} state {state}")
    for instance in fleet.instances[:active]:
        fleet.wait_balancer(instance, "UP")


def script(directory: Path, name: str, template: str, tenants: list[str]) -> Path:
    path = directory / f"{name}-{random.randrange(10**9)}.lua"
    table = "{" + ",".join(f'"{tenant}"' for tenant in tenants) + "}"
    run = f'RUN = "{random.randrange(16**8):08x}"\n'
    path.write_text(run + template.replace("{TENANTS}", table) + DONE_LUA)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1,2,3", help="instance counts to measure, e.g. 1,2,3")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--warm-up", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--only", choices=("theme", "scaffold"), default=None)
    parser.add_argument(
        "--rate-limits",
        choices=("redis", "off"),
        default="redis",
        help="redis: enforced, one budget in Redis as deployed (raised so none is hit); off: to isolate "
        "what the shared store costs",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.instances.split(",")]
    if shutil.which("wrk") is None or shutil.which("haproxy") is None:
        subprocess.run(["bash", str(ROOT / "scripts/system-deps.sh")], check=True)
    work = Path(tempfile.mkdtemp(prefix="foundation-rehearsal-bench-"))
    settings = {
        f"FOUNDATION_RATE_LIMIT_{name}_PER_MINUTE": RAISED
        for name in ("SCAFFOLD", "SCAFFOLD_READ", "THEME_READ", "METRICS_READ", "STORIES_READ", "WRITE")
    }
    if args.rate_limits == "off":
        settings["FOUNDATION_RATE_LIMIT_ENABLED"] = "false"
    rows = []
    try:
        with Fleet(work / "fleet", instances=max(counts), settings=settings, log_requests=False) as fleet:
            started = time.monotonic()
            tenants = fleet.create_tenants([f"bench-{n}" for n in range(args.tenants)])
            print(
                f"{len(tenants)} tenants with a current theme in {time.monotonic() - started:.1f} s",
                file=sys.stderr,
            )
            warm_tenants(fleet, tenants)
            plans = {"theme GET": THEME_LUA, "scaffold POST": SCAFFOLD_LUA}
            for active in counts:
                use_instances(fleet, active)
                for name, template in plans.items():
                    if args.only and not name.startswith(args.only):
                        continue
                    if args.warm_up:
                        wrk(
                            fleet.url, args.connections, args.warm_up, script(work, "warm", template, tenants)
                        )
                    pids = components(fleet, active)
                    before = {part: cpu_seconds(p) for part, p in pids.items()}
                    result = wrk(
                        fleet.url, args.connections, args.seconds, script(work, name, template, tenants)
                    )
                    cpu = {part: cpu_seconds(p) - before[part] for part, p in pids.items()}
                    rows.append((active, name, result, cpu))
                    print(f"{active} instance(s) {name:14} {result['rps']:8.0f} req/s", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(rows, args))


def render(rows: list[tuple[int, str, dict[str, float], dict[str, float]]], args: argparse.Namespace) -> str:
    command = (
        f"python bench/rehearsal_throughput.py --instances {args.instances} --tenants {args.tenants} "
        f"--seconds {args.seconds} --connections {args.connections} --rate-limits {args.rate_limits}"
        + (f" --only {args.only}" if args.only else "")
    )
    lines = [
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; {os.cpu_count()} cores shared by "
        f"everything (instances, PostgreSQL, Redis, HAProxy, wrk); command: `{command}`",
        "",
        "| instances | endpoint | req/s | p50 ms | p99 ms | errors "
        "| CPU s: API / PostgreSQL / Redis / HAProxy | req per API CPU-second |",
        "|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    for active, name, result, cpu in rows:
        errors = int(result["socket_errors"] + result["status_errors"])
        per_cpu = result["requests"] / cpu["api"] if cpu["api"] else 0
        latency = f"{result['p50'] / 1000:.1f} | {result['p99'] / 1000:.1f}"
        spent = " / ".join(f"{cpu[part]:.1f}" for part in ("api", "postgres", "redis", "haproxy"))
        lines.append(
            f"| {active} | {name} | {result['rps']:.0f} | {latency} | {errors} | {spent} | {per_cpu:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
