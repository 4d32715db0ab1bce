"""What a worker's memory holds after it has read every tenant's three cacheable reads once.

The app of ``stack_inprocess.py`` is built in this process on a copy of a many-tenant database from
``tenants_workload.py --db-cache`` (default: the newest ``sqlite-*.db`` in var/bench/db-cache). After
start-up, ``tracemalloc`` starts and every tenant's theme, tenant metrics and stories are read once through
the ASGI interface. It prints the RSS (anonymous and file-backed) before and after, the Python objects still
alive by file and by allocating line, SQLite's own memory (its page caches, which tracemalloc does not
see: ``sqlite3_memory_used`` of the libsqlite3 the interpreter loaded), and the RSS after ``malloc_trim(0)``.
The gap between the RSS growth and the live objects is memory the process no longer uses but has not
returned to the system.

    python bench/worker_memory.py [--database var/bench/db-cache/sqlite-5000-20000-….db] [--tenants 5000]
    python bench/worker_memory.py --no-trace          # RSS and SQLite's memory only, at full speed

Slow on purpose: tracemalloc records every allocation (~10 minutes for 5,000 tenants here).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import shutil
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack_inprocess import bench_app, scope

ROOT = Path(__file__).resolve().parents[1]
READS = (
    "/api/v1/tenants/{t}/themes/current",
    "/api/v1/tenant-metrics/{t}/sc",
    "/api/v1/design-system/stories",
)


def rss() -> str:
    status = Path("/proc/self/status").read_text()

    def mb(key: str) -> float:
        return int(status.split(f"{key}:")[1].split()[0]) / 1024

    return f"{mb('VmRSS'):.1f} MB (anonymous {mb('RssAnon'):.1f}, file-backed {mb('RssFile'):.1f})"


def sqlite_memory() -> str:
    """What SQLite holds (page caches, statements), from the libsqlite3 the sqlite3 module is linked to."""
    import _sqlite3

    library = ctypes.CDLL(_sqlite3.__file__)  # its undefined symbols resolve to the loaded libsqlite3
    library.sqlite3_memory_used.restype = ctypes.c_int64
    library.sqlite3_memory_highwater.restype = ctypes.c_int64
    used, peak = library.sqlite3_memory_used(), library.sqlite3_memory_highwater(0)
    return f"{used / 2**20:.1f} MB (peak {peak / 2**20:.1f} MB)"


async def read_all(app: Any, tenants: list[str], trace: bool) -> tracemalloc.Snapshot | None:
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async with app.router.lifespan_context(app):
        await app(scope("/health", tenants[0]), receive, send)
        gc.collect()
        print(f"RSS after start-up: {rss()}", flush=True)
        if trace:
            tracemalloc.start(12)
        for index, tenant in enumerate(tenants, 1):
            for path in READS:
                await app(scope(path.format(t=tenant), tenant), receive, send)
            if index % 500 == 0:
                print(f"  {index:,} of {len(tenants):,} tenants read", flush=True)
        gc.collect()
        snapshot = tracemalloc.take_snapshot() if trace else None
        print(f"RSS after reading every tenant once: {rss()}; statuses {statuses}")
        print(f"SQLite's own memory: {sqlite_memory()}")
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(f"RSS after malloc_trim(0): {rss()}")
    return snapshot


def report(snapshot: tracemalloc.Snapshot) -> None:
    by_file = snapshot.statistics("filename")
    print(f"Python objects still alive (traced): {sum(s.size for s in by_file) / 2**20:.1f} MB")
    print("| MB | objects | file |\n|---:|---:|---|")
    for stat in by_file[:15]:
        name = stat.traceback[0].filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        print(f"| {stat.size / 2**20:.2f} | {stat.count:,} | {name} |")
    print("\n| MB | objects | allocated at (this project) |\n|---:|---:|---|")
    ours = snapshot.filter_traces([tracemalloc.Filter(True, f"{ROOT}/src/*")])
    for stat in ours.statistics("lineno")[:12]:
        frame = stat.traceback[0]
        where = f"{frame.filename.replace(str(ROOT) + '/', '')}:{frame.lineno}"
        print(f"| {stat.size / 2**20:.2f} | {stat.count:,} | {where} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database", type=Path, default=None, help="a tenants_workload.py --db-cache database"
    )
    parser.add_argument("--tenants", type=int, default=None, help="read only the first N tenants")
    parser.add_argument("--no-trace", action="store_true", help="no tracemalloc: RSS and SQLite only, fast")
    args = parser.parse_args()
    found = sorted((ROOT / "var/bench/db-cache").glob("sqlite-*.db"), key=lambda p: p.stat().st_mtime)
    source = args.database or (found[-1] if found else None)
    if source is None or not source.exists():
        raise SystemExit(
            "no database: run `python bench/tenants_workload.py --db-cache var/bench/db-cache` first"
        )
    tenants = json.loads(source.with_suffix(".json").read_text())["tenant_ids"][: args.tenants]
    work = Path(tempfile.mkdtemp(prefix="bench-worker-memory-"))
    try:
        shutil.copy(source, work / "foundation.db")
        app = bench_app(f"sqlite+aiosqlite:///{work / 'foundation.db'}", work, "WARNING")
        print(f"{source.name}: {len(tenants):,} tenants × {len(READS)} reads")
        snapshot = asyncio.run(read_all(app, tenants, trace=not args.no_trace))
        if snapshot is not None:
            report(snapshot)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
