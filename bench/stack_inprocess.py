"""CPU per cached read through the whole middleware stack, the app called in-process (no network, no wrk).

What a response-cache hit costs in this process — telemetry, headers, deadline, request guard, admission
(scopes, tenant, rate-limit budget, query validation) and the kept answer — without uvicorn, sockets or wrk,
whose share is large and noisy on a shared 2-core machine. Each endpoint is called N times through its ASGI
interface after a warm-up, with the rate limiter on (budgets raised so nothing is refused), at the default
INFO log level (access log on, written to /dev/null) and at WARNING.

    python bench/stack_inprocess.py [--requests 20000] [--rounds 5] [--log-levels INFO,WARNING]
        [--endpoints "theme GET,stories GET"]
    python bench/stack_inprocess.py --endpoints "metrics GET,metrics GET gzip" \
        --database var/bench/db-cache/sqlite-5000-20000-….db      # a cached scrape of 5,000 tenants

Runs against whichever ``foundation`` the interpreter imports, so the same file compares two trees:

    /path/to/other/tree/.venv/bin/python bench/stack_inprocess.py

Prints the least CPU microseconds per request of the rounds (``time.process_time``): other processes on a
shared machine only ever add to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inprocess_app import app_with

ALFA = "00000000-0000-0000-0000-000000000001"
ENDPOINTS = {
    "theme GET": f"/api/v1/tenants/{ALFA}/themes/current",
    "tenant-metrics GET": f"/api/v1/tenant-metrics/{ALFA}/sc",
    "stories GET": "/api/v1/design-system/stories",
}
# Measured only when named in --endpoints: (path, extra request headers). Within the render cache, a scrape
# answers the kept exposition, as Prometheus's scrapes mostly do with several workers.
SCRAPES: dict[str, tuple[str, tuple[tuple[bytes, bytes], ...]]] = {
    "metrics GET": ("/metrics", ()),
    "metrics GET gzip": ("/metrics", ((b"accept-encoding", b"gzip"),)),  # as Prometheus asks
}
RAISED = "1000000"
Target = tuple[str, tuple[tuple[bytes, bytes], ...]]


def scope(
    path: str, tenant: str = ALFA, extra_headers: tuple[tuple[bytes, bytes], ...] = ()
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench"),
            (b"x-tenant-id", tenant.encode()),
            *extra_headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


@contextlib.contextmanager
def output_discarded() -> Iterator[None]:
    """The access log is written, as in a deployment, but to /dev/null instead of the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


async def measure(app: Any, targets: dict[str, Target], requests: int, rounds: int) -> dict[str, float]:
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    results: dict[str, list[float]] = {name: [] for name in targets}
    async with app.router.lifespan_context(app):
        for _ in range(rounds):
            for name, (path, headers) in targets.items():
                for _ in range(500):  # warm-up: the answer is kept, the tenant resolved
                    await app(scope(path, extra_headers=headers), receive, send)
                started = time.process_time()
                for _ in range(requests):
                    await app(scope(path, extra_headers=headers), receive, send)
                results[name].append(1e6 * (time.process_time() - started) / requests)
    if statuses != {200}:
        raise SystemExit(f"unexpected statuses {sorted(statuses)}")
    return {name: min(values) for name, values in results.items()}


def bench_app(database_url: str, var_dir: Path, log_level: str, **overrides: str) -> Any:
    """The app as measured: rate limiter on with budgets nothing exhausts, tracing off, auth off."""
    with output_discarded():
        return app_with(
            {
                "FOUNDATION_DATABASE_URL": database_url,
                "FOUNDATION_VAR_DIR": str(var_dir),
                "FOUNDATION_AUTH": "off",
                "FOUNDATION_LOG_LEVEL": log_level,
                "FOUNDATION_TRACING_ENABLED": "false",
                "FOUNDATION_RATE_LIMIT_THEME_READ_PER_MINUTE": RAISED,
                "FOUNDATION_RATE_LIMIT_METRICS_READ_PER_MINUTE": RAISED,
                "FOUNDATION_RATE_LIMIT_STORIES_READ_PER_MINUTE": RAISED,
                **overrides,
            }
        )


def run(
    database_url: str, var_dir: Path, log_level: str, targets: dict[str, Target], requests: int, rounds: int
) -> dict[str, float]:
    app = bench_app(database_url, var_dir, log_level)
    with output_discarded():
        return asyncio.run(measure(app, targets, requests, rounds))


def seeded_database(directory: Path, python: str = sys.executable) -> str:
    """A demo database made by ``python``'s own CLI (this interpreter's by default)."""
    url = f"sqlite+aiosqlite:///{(directory / 'foundation.db').resolve()}"
    env = {**os.environ, "FOUNDATION_DATABASE_URL": url, "FOUNDATION_VAR_DIR": str(directory)}
    for verb in (["db", "upgrade"], ["seed", "--demo-data"]):
        subprocess.run([python, "-m", "foundation.cli.main", *verb], env=env, check=True, capture_output=True)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--log-levels", default="INFO,WARNING", help="comma-separated (default: %(default)s)")
    parser.add_argument(
        "--endpoints", default=",".join(ENDPOINTS), help="comma-separated (default: the three reads)"
    )
    parser.add_argument(
        "--database",
        type=Path,
        default=None,
        help="a copy of this SQLite file, not the demo data",
    )
    args = parser.parse_args()
    known: dict[str, Target] = {name: (path, ()) for name, path in ENDPOINTS.items()} | SCRAPES
    chosen = args.endpoints.split(",")
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        parser.error(f"unknown endpoints {unknown}; choose from {sorted(known)}")
    targets = {name: known[name] for name in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-stack-inprocess-") as raw:
        if args.database is not None:
            shutil.copy(args.database, Path(raw) / "foundation.db")
            url = f"sqlite+aiosqlite:///{Path(raw) / 'foundation.db'}"
        else:
            url = seeded_database(Path(raw))
        print("| endpoint | log level | CPU µs / cached request (least of the rounds) |")
        print("|---|---|---:|")
        for level in args.log_levels.split(","):
            for name, micros in run(url, Path(raw), level, targets, args.requests, args.rounds).items():
                print(f"| {name} | {level} | {micros:.1f} |", flush=True)


if __name__ == "__main__":
    main()
