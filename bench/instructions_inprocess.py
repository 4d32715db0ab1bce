"""Machine instructions per cached read, counted by valgrind: the noise-free twin of stack_inprocess.py.

On this shared 2-core VM, CPU time per request moves by ±15 % between runs of the same tree, which hides
differences of a few microseconds. Instructions do not depend on the neighbours. The app (built as
stack_inprocess.py builds it) answers ``N`` cached reads of one endpoint under ``valgrind --tool=callgrind``,
once with the small count and once with the large one; the difference divided by the difference of counts
is what one request costs, start-up and warm-up cancelled out. Background work that depends on wall-clock
time (the event-loop watchdog, the checkpoint thread) still runs while valgrind slows the app ~50×, so kept
answers are made to live 60 s (the settings' maximum) instead of refreshing every second, and the hash seed
is fixed. What is left varies by about 1 % between runs.

    python bench/instructions_inprocess.py [--python OTHER_TREE/.venv/bin/python] [--requests 1000,3000]
        [--endpoints "theme GET,tenant-metrics GET,stories GET"] [--log-level WARNING]

Each valgrind run takes about a minute; two run side by side. Prints one row per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack_inprocess import ENDPOINTS, bench_app, output_discarded, scope, seeded_database

WARM_UP = 300
COLLECTED = re.compile(r"Collected : (\d+)")


async def answer(app: Any, path: str, requests: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"unexpected status {message['status']}")

    async with app.router.lifespan_context(app):
        for _ in range(WARM_UP + requests):
            await app(scope(path), receive, send)


def child(args: argparse.Namespace) -> None:
    """Runs inside valgrind: build the app, answer the reads, exit."""
    # Kept answers live the longest the settings allow: a refresh after the default 1 s would come every
    # few hundred requests under valgrind, each a whole uncached request, and at a wall-clock-driven rate.
    app = bench_app(args.database_url, Path(args.var_dir), args.log_level, FOUNDATION_READ_CACHE_SECONDS="60")
    with output_discarded():
        asyncio.run(answer(app, ENDPOINTS[args.endpoint], args.count))


def seeded_environment() -> dict[str, str]:
    # A fixed hash seed: dict and set layouts, and so the instructions, repeat from run to run.
    return {**os.environ, "PYTHONHASHSEED": "0"}


VALGRIND = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]


def child_command(python: str, endpoint: str, count: int, url: str, var_dir: Path, level: str) -> list[str]:
    """This file's child mode under ``python``: build the app, answer ``count`` reads of ``endpoint``."""
    return [
        python,
        __file__,
        "--child",
        "--endpoint",
        endpoint,
        "--count",
        str(count),
        "--database-url",
        url,
        "--var-dir",
        str(var_dir),
        "--log-level",
        level,
    ]


def instructions(python: str, endpoint: str, count: int, url: str, var_dir: Path, level: str) -> int:
    command = [*VALGRIND, *child_command(python, endpoint, count, url, var_dir, level)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=seeded_environment())
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run failed ({endpoint}, {count}): {done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", default=sys.executable, help="the tree's interpreter to measure")
    parser.add_argument("--requests", default="1000,3000", help="the two counts (default: %(default)s)")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--var-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    small, large = (int(value) for value in args.requests.split(","))
    if large <= small:
        raise SystemExit("--requests: the second count must be larger than the first")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    endpoints = [name.strip() for name in args.endpoints.split(",")]
    unknown = sorted(set(endpoints) - set(ENDPOINTS))
    if unknown:
        raise SystemExit(f"--endpoints: unknown {unknown}; known: {sorted(ENDPOINTS)}")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as raw:
        url = seeded_database(Path(raw), args.python)
        # One run without valgrind first: what the first start of an app does to a new database (the
        # scorecard's first refresh) would otherwise land in one of the two measured runs only.
        first_start = child_command(args.python, endpoints[0], small, url, Path(raw), args.log_level)
        subprocess.run(first_start, check=True, capture_output=True, env=seeded_environment())
        print(f"| endpoint | log level | instructions / cached request ({args.python}) |")
        print("|---|---|---:|")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for endpoint in endpoints:
                runs = [
                    pool.submit(instructions, args.python, endpoint, count, url, Path(raw), args.log_level)
                    for count in (small, large)
                ]
                per_request = (runs[1].result() - runs[0].result()) / (large - small)
                print(f"| {endpoint} | {args.log_level} | {per_request:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
