"""Where tracing's cost goes: CPU per cached theme GET, the app called in-process (no network, no load tool).

Three apps on the same seeded SQLite database, each called N times through its ASGI interface after a
warm-up (the response cache answers, as under load):

  * ``off``    — tracing disabled;
  * ``spans``  — the server-span middleware and the SQLAlchemy instrumentation with a tracer provider that
                 has no span processor (spans are made and dropped: the cost of making them);
  * ``export`` — tracing as configured in production: batch processor, OTLP/HTTP export to an embedded
                 collector running in its own process (so its CPU is not counted here).

Reports CPU microseconds per request for the whole server process (``time.process_time``: the export thread
included) and for the event-loop thread alone (``time.thread_time``).

    python bench/tracing_inprocess.py [--requests 6000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))

from inprocess_app import app_with  # noqa: E402
from tests.observability.servers import ALFA, seeded_database, stop  # noqa: E402

from foundation.ops.procs import free_port, wait_until  # noqa: E402

PATH = f"/api/v1/tenants/{ALFA}/themes/current"


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench"),
            (b"x-tenant-id", b"tenant-alfa"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def measure(app: Any, requests: int) -> tuple[float, float]:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app):
        for _ in range(500):
            await app(scope(), receive, send)
        process, thread = time.process_time(), time.thread_time()
        for _ in range(requests):
            await app(scope(), receive, send)
        process, thread = time.process_time() - process, time.thread_time() - thread
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")
    return 1e6 * process / requests, 1e6 * thread / requests


def run(
    mode: str, database_url: str, var_dir: Path, requests: int, collector_url: str
) -> tuple[float, float]:
    variables = {
        "FOUNDATION_DATABASE_URL": database_url,
        "FOUNDATION_VAR_DIR": str(var_dir),
        "FOUNDATION_AUTH": "off",
        "FOUNDATION_RATE_LIMIT_ENABLED": "false",
        "FOUNDATION_LOG_LEVEL": "WARNING",
    }
    if mode == "export":
        variables["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector_url
    else:
        variables["FOUNDATION_TRACING_ENABLED"] = "false"
    app = app_with(variables)

    from foundation.db import Database
    from foundation.observability import tracing

    if mode == "spans":
        tracing.instrument(app, app.state.services[Database].engine, tracing.FoundationTracerProvider())
    return asyncio.run(measure(app, requests))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=6000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tracing-inprocess-") as raw:
        root = Path(raw)
        port = free_port()
        collector = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "foundation.cli.main",
                "collector",
                "--port",
                str(port),
                "--data-dir",
                raw,
            ],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: _up(url), 30, what=f"{url}/health")
            print("| mode | process CPU µs / request | event-loop thread CPU µs / request |")
            print("|---|---:|---:|")
            for mode in ("off", "spans", "export"):
                process, thread = run(
                    mode, seeded_database(root / mode), root / f"var-{mode}", args.requests, url
                )
                print(f"| {mode} | {process:.0f} | {thread:.0f} |", flush=True)
        finally:
            stop(collector)


def _up(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
