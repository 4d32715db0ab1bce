"""Benchmark: cost of tracing + metrics on theme GET, and p99 with the collector up vs stopped.

Part 1 (req/s, wrk): two `foundation serve` processes side by side in one run, both seeded the same way,
rate limits off, one worker each:
  * "on":  tracing + metrics, sampling 1.0 (parentbased_always_on), OTLP/HTTP to the embedded collector;
  * "off": FOUNDATION_TRACING_ENABLED=false FOUNDATION_METRICS_ENABLED=false.
Each is loaded with `wrk -t2 -c50 -d10s` (a Lua script adds X-Tenant-Id) on
GET /api/v1/tenants/{alfa}/themes/current, in rounds (--rounds) of off/on/noexport, every other round in
reverse order (ABBA) so a drift of the machine's speed hits both. Overhead = 1 - on/off over the means
(target <= 25 %), also reported per round (each round's on against its own off) with their median. Each run
also records the server process's CPU time per request (all its threads, from /proc): on a shared VM whose
speed varies from second to second that figure is steadier than req/s, and both servers are CPU-bound, so
1 - cpu(off)/cpu(on) estimates the same overhead (reported as cpuOverheadPercent). A third
server, "noexport" (metrics on; without an OTLP endpoint no tracer provider is built), shows what metrics
alone cost.

Part 2 (p99): 200 sequential requests on one connection to a tracing server whose collector is up, then to
one exporting to a closed port (collector stopped). Reported, not asserted.

    python bench/tracing_overhead.py [--duration 10] [--rounds 2] [--connections 50]

Binds 127.0.0.1 only; every process started here is stopped by its process group id.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.observability.servers import (  # noqa: E402
    ALFA,
    running_server,
    seeded_database,
    server_env,
)

from foundation.ops.collector.server import collector_in_thread  # noqa: E402
from foundation.ops.procs import free_port  # noqa: E402

PATH = f"/api/v1/tenants/{ALFA}/themes/current"
LUA = 'wrk.headers["X-Tenant-Id"] = "tenant-alfa"\n'


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all threads (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    url: str, script: Path, threads: int, connections: int, duration: int, server_pid: int | None = None
) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found on PATH")
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "-s", str(script), "--latency", url]
    cpu_before = process_cpu_seconds(server_pid) if server_pid else 0.0
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    cpu_after = process_cpu_seconds(server_pid) if server_pid else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    requests = int(total.group(1)) if total else 0
    return {
        "rps": rps,
        "cpuUsPerRequest": round(1e6 * (cpu_after - cpu_before) / requests, 1) if requests else None,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socketErrors": errors.group(0) if errors else "",
    }


def p99_of(base_url: str, count: int) -> dict[str, float]:
    latencies = []
    with httpx.Client(base_url=base_url) as client:
        for _ in range(20):
            client.get(PATH, headers={"X-Tenant-Id": "tenant-alfa"})
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(PATH, headers={"X-Tenant-Id": "tenant-alfa"})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"request failed: {response.status_code}")
    ordered = sorted(latencies)
    return {
        "requests": count,
        "p50Ms": round(statistics.median(ordered), 2),
        "p99Ms": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 2),
        "maxMs": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--p99-requests", type=int, default=200)
    args = parser.parse_args()

    result: dict[str, object] = {"wrk": f"-t{args.threads} -c{args.connections} -d{args.duration}s"}
    with tempfile.TemporaryDirectory(prefix="bench-tracing-") as raw:
        root = Path(raw)
        script = root / "tenant.lua"
        script.write_text(LUA)
        off_db = seeded_database(root / "db-off")
        on_db = seeded_database(root / "db-on")
        off_env = server_env(
            off_db, root / "var-off", FOUNDATION_TRACING_ENABLED="false", FOUNDATION_METRICS_ENABLED="false"
        )
        noexport_env = server_env(seeded_database(root / "db-noexport"), root / "var-noexport")
        with collector_in_thread(root / "collector", max_file_bytes=64 * 1024 * 1024) as collector:
            on_env = server_env(
                on_db,
                root / "var-on",
                OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
                OTEL_TRACES_SAMPLER="parentbased_always_on",
            )
            with (
                running_server(off_env, root / "logs-off") as off,
                running_server(on_env, root / "logs-on") as on,
                running_server(noexport_env, root / "logs-noexport") as noexport,
            ):
                servers = (("off", off), ("on", on), ("noexport", noexport))
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in servers}
                for _, server in servers:  # warm-up
                    run_wrk(server.url + PATH, script, args.threads, args.connections, 2)
                for round_index in range(args.rounds):
                    # ABBA order: every other round runs the servers in reverse, so a drift of the machine's
                    # speed over the run does not always favour whichever server goes first.
                    for name, server in servers if round_index % 2 == 0 else servers[::-1]:
                        run = run_wrk(
                            server.url + PATH,
                            script,
                            args.threads,
                            args.connections,
                            args.duration,
                            server.process.pid,
                        )
                        runs[name].append(run)
                        print(
                            f"round {round_index + 1}/{args.rounds} {name}: {run['rps']:.0f} req/s, "
                            f"{run['cpuUsPerRequest']} µs CPU/request",
                            file=sys.stderr,
                        )
                off_rps = statistics.mean(r["rps"] for r in runs["off"])
                on_rps = statistics.mean(r["rps"] for r in runs["on"])
                noexport_rps = statistics.mean(r["rps"] for r in runs["noexport"])
                result["reqPerSec"] = {
                    "off": round(off_rps, 1),
                    "on": round(on_rps, 1),
                    "noexport": round(noexport_rps, 1),
                }
                result["overheadPercent"] = round(100 * (1 - on_rps / off_rps), 1)
                per_round = [
                    round(100 * (1 - on_run["rps"] / off_run["rps"]), 1)
                    for off_run, on_run in zip(runs["off"], runs["on"], strict=True)
                ]
                result["overheadPercentPerRound"] = per_round
                result["overheadPercentMedianOfRounds"] = statistics.median(per_round)
                off_cpu = statistics.mean(r["cpuUsPerRequest"] for r in runs["off"])
                on_cpu = statistics.mean(r["cpuUsPerRequest"] for r in runs["on"])
                result["cpuUsPerRequest"] = {"off": round(off_cpu, 1), "on": round(on_cpu, 1)}
                result["cpuOverheadPercent"] = round(100 * (1 - off_cpu / on_cpu), 1)
                result["noexportOverheadPercent"] = round(100 * (1 - noexport_rps / off_rps), 1)
                result["runs"] = runs
                result["collectorSpans"] = httpx.get(f"{collector.url}/stats").json()["spans"]
                result["p99CollectorUp"] = p99_of(on.url, args.p99_requests)

        closed = free_port()
        down_env = server_env(
            on_db,
            root / "var-down",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed}",
            OTEL_TRACES_SAMPLER="parentbased_always_on",
        )
        with running_server(down_env, root / "logs-down") as down:
            result["p99CollectorStopped"] = p99_of(down.url, args.p99_requests)
    result["targetOverheadPercent"] = 25
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
