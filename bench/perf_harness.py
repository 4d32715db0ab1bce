"""Ceiling of the perf-smoke harness: locust (as used by `foundation perf smoke`) with think time 0 against a
bare Starlette endpoint served by uvicorn in a subprocess. Prints the sustained req/s.

    python bench/perf_harness.py [--users 20] [--duration 10s] [--json]

The figure shows the load generator is never the bottleneck at smoke scale (target: >= 1,000 req/s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

# Let `python bench/perf_harness.py` find the package from a source checkout too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def serve(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def ping(request: object) -> PlainTextResponse:
        return PlainTextResponse("pong")

    app = Starlette(routes=[Route("/ping", ping)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def measure(users: int, duration_seconds: float) -> dict[str, float]:
    from foundation.ops.perf.runner import import_locust, run_load
    from foundation.ops.perf.server import wait_ready
    from foundation.ops.perf.stats import Recorder
    from foundation.ops.procs import free_port

    import_locust()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(f"{base_url}/ping", 30.0, alive=server):
            raise SystemExit("error: the bare Starlette server did not start")

        def user_class(recorder: Recorder) -> type:
            from locust import constant, task
            from locust.contrib.fasthttp import FastHttpUser

            class CeilingUser(FastHttpUser):
                host = base_url
                wait_time = constant(0)

                @task
                def ping(self) -> None:
                    self.client.get("/ping", name="ping")

            return CeilingUser

        load = run_load(
            user_class, vus=users, duration_seconds=duration_seconds, host=base_url, description="ceiling"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    from foundation.ops.perf.stats import summarize

    stats = summarize(load.recorder, load.elapsed_seconds, users)
    return {
        "users": users,
        "durationSeconds": round(load.elapsed_seconds, 3),
        "requests": stats.overall.count,
        "errors": stats.overall.failed,
        "reqPerSecond": round(stats.throughput, 1),
        "p95Ms": round(stats.overall.p95, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    from foundation.ops.perf.durations import parse_positive_duration

    result = measure(args.users, parse_positive_duration(args.duration))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"harness ceiling: {result['reqPerSecond']:.0f} req/s ({result['requests']} requests, "
            f"{result['errors']} errors, p95 {result['p95Ms']} ms) with {args.users} users, think time 0, "
            f"over {result['durationSeconds']} s"
        )


if __name__ == "__main__":
    main()
