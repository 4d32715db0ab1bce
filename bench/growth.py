"""Growth curve: what the API costs as tenants and registrations grow (issue #18).

For each size (default 100, 1,000 and 10,000 tenants) a fresh database gets ``--registrations`` in all
(default 1,000,000, spread evenly), and every tenant a current theme, a story, SC-002/SC-003 samples and a
replayable registration — loaded through the service layer (foundation.ops.devtools.bulk_load), never one
CLI process per tenant. A share of the idempotency records (``--expired-fraction``) has already expired, for
the retention phase. Then a real `foundation serve` (SQLite: 1 worker; ``--postgres``: 2 workers on the
private cluster of `make db-up`, a fresh database per size) with the default settings — log level INFO with
the access log on, rate limits as configured by default, the metrics render cache of 1 s — is measured:

* ``/metrics``: bytes, series, scrape p50/p95 (each scrape spaced past the render cache, so each renders),
  after one request of each read per tenant so that every tenant has its series (the worst case);
* reads: wrk, ``--connections`` (50), a random tenant per request (Lua), theme GET, tenant metrics GET
  (``code=SC-001&per_page=10``), stories GET: req/s, p50/p99, 429s, errors;
* the same theme GET run while 50 concurrent scrapes arrive every second;
* tenant metrics page 1 against ``page=1000000``;
* retention: scaffold POST (new keys, random tenant) alone, then in 2-second windows while the purge of
  `foundation db purge` deletes the expired records: purge time, and the writes' req/s and worst p99 in the
  windows that overlapped it;
* RSS per worker and the database size.

    python bench/growth.py --sizes 100,1000 --registrations 20000 --seconds 5     # a quick run
    python bench/growth.py                                                        # the full curve (long)
    python bench/growth.py --postgres --workers 2 --json var/bench/growth-pg.json
    python bench/growth.py --set FOUNDATION_RATE_LIMIT_ENABLED=false --db-cache var/bench/db-cache

With the default rate limits, 50 connections over 100 tenants exceed every tenant's budget, so nearly every
read of the smallest size is a cheap 429: compare the cost of reads across sizes with the limits off
(``--set``, recorded in the results), as the second command does.

Progress lines go to stderr; a Markdown table to stdout; everything measured to ``--json``
(default ``var/bench/growth-<UTC time>.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_common as sc

from foundation.ops.devtools.bulk_load import LoadPlan


def scrape_bursts(url: str, stop: threading.Event, concurrency: int = 50) -> dict[str, Any]:
    """Every second, ``concurrency`` scrapes at once (as many Prometheus servers would), until ``stop``."""
    latencies: list[float] = []
    statuses: list[int] = []

    def one(client: httpx.Client) -> None:
        started = time.perf_counter()
        try:
            statuses.append(client.get("/metrics").status_code)
        except httpx.HTTPError:
            statuses.append(0)
        latencies.append((time.perf_counter() - started) * 1000)

    # One client (thread-safe) with a connection per concurrent scrape: 50 clients would each build an SSL
    # context first, seconds on a busy machine.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, timeout=30, limits=limits) as client:
        while not stop.is_set():
            tick = time.monotonic()
            threads = [threading.Thread(target=one, args=(client,)) for _ in range(concurrency)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stop.wait(max(0.0, 1.0 - (time.monotonic() - tick)))
    return {
        "scrapes": len(statuses),
        "non_200": sum(1 for s in statuses if s != 200),
        "p95_ms": round(sc.percentile(latencies, 0.95), 1) if latencies else None,
    }


def retention(server: sc.Server, backend: sc.Backend, ids: list[str], seconds: float) -> dict[str, Any]:
    """Scaffold POSTs alone, then in 2-second wrk windows while a purge runs — `foundation db purge`'s code
    (``purge_expired``) in this process, as the API's role — until it is done; the windows that overlapped
    the purge are summed (req/s) and their worst p99 kept."""
    from foundation.db import Database
    from foundation.scaffolds.retention import OTHER_PROCESS_PAUSE_SECONDS, purge_expired

    baseline = sc.wrk(server, "scaffold POST new", ids, 50, seconds)
    purge: dict[str, Any] = {}

    def run_purge() -> None:
        async def go() -> dict[str, object]:
            db = Database(backend.env["FOUNDATION_DATABASE_URL"])
            try:
                return (await purge_expired(db, pause_seconds=OTHER_PROCESS_PAUSE_SECONDS)).as_dict()
            finally:
                await db.dispose()

        purge["started"] = time.monotonic()
        try:
            purge["report"] = asyncio.run(go())
        except Exception as exc:  # reported, not raised: the windows still tell what writers saw
            purge["report"] = {"error": f"{type(exc).__name__}: {exc}"}
        purge["ended"] = time.monotonic()

    thread = threading.Thread(target=run_purge)
    windows = []
    thread.start()
    while thread.is_alive() or not windows:
        started = time.monotonic()
        result = sc.wrk(server, "scaffold POST new", ids, 50, 2)
        windows.append((started, time.monotonic(), result))
    thread.join()
    overlapping = [r for s, e, r in windows if s < purge["ended"] and e > purge["started"]] or [
        windows[-1][2]
    ]
    requests = sum(r.requests for r in overlapping)
    during = {
        "windows": len(overlapping),
        "requests": requests,
        "rps": round(requests / sum(r.seconds for r in overlapping), 1),
        "p99_ms": max(r.p99_ms for r in overlapping),
        "errors": sum(r.errors for r in overlapping),
        "statuses": [r.statuses for r in overlapping],
    }
    return {
        "writes_alone": baseline.as_dict(),
        "writes_during_purge": during,
        "purge": {"report": purge["report"], "wall_seconds": round(purge["ended"] - purge["started"], 3)},
    }


def measure_size(args: argparse.Namespace, tenants: int, root: Path) -> dict[str, Any]:
    work = root / f"size-{tenants}"
    work.mkdir()
    backend = sc.make_backend(args.postgres, work, args.log_level)
    try:
        sc.migrate(backend)
        sc.progress(f"{tenants} tenants: loading {args.registrations} registrations")
        plan = LoadPlan(tenants, args.registrations, expired_fraction=args.expired_fraction)
        loaded = sc.load(backend, plan, args.db_cache)
        ids = loaded.pop("tenant_ids")
        sc.progress(f"{tenants} tenants: loaded in {loaded['seconds']:.0f} s; starting the server")
        # The API's own purge task would run within a minute of start-up; the retention phase measures
        # `foundation db purge` instead, on the same records.
        server = sc.start_server(
            backend,
            args.workers,
            {"FOUNDATION_IDEMPOTENCY_PURGE_INTERVAL_SECONDS": "0", **sc.server_settings(args)},
        )
        try:
            return {"tenants": tenants, "load": loaded, **measure_server(args, server, backend, ids)}
        except BaseException:
            kept = sc.ROOT / "var/bench" / f"server-{tenants}-{time.strftime('%Y%m%dT%H%M%S')}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log, kept)
            sc.progress(f"failed; the server's log is kept in {kept}")
            raise
        finally:
            server.stop()
    finally:
        backend.drop()


def measure_server(args: argparse.Namespace, server: sc.Server, backend: sc.Backend, ids: list[str]) -> dict:
    out: dict[str, Any] = {}
    sc.progress(f"priming: one request of each read per tenant ({3 * len(ids)} requests)")
    out["prime"] = sc.prime(server, ids, sc.READS)
    sc.progress(f"primed: {out['prime']}")
    for endpoint in sc.READS:  # warm-up, unrecorded
        sc.wrk(server, endpoint, ids, args.connections, args.warm_up)
    out["scorecard_wait_seconds"] = sc.wait_for_scorecard(server)
    sc.progress(f"scrapes (the first scorecard snapshot was ready {out['scorecard_wait_seconds']} s later)")
    out["metrics"] = sc.scrape_latencies(server, args.scrapes, spacing=1.05)
    if args.metrics_only:
        out["rss_mb_per_worker"] = sc.rss_per_worker(server)
        out["database_bytes"] = backend.size_bytes()
        return out
    out["reads"] = {}
    for endpoint in sc.READS:
        result = sc.wrk(server, endpoint, ids, args.connections, args.seconds)
        out["reads"][endpoint] = result.as_dict()
        sc.progress(f"{endpoint}: {result.rps} req/s, p99 {result.p99_ms} ms, 429 {result.rate_limited}")
    stop = threading.Event()
    bursts: dict[str, Any] = {}
    burster = threading.Thread(target=lambda: bursts.update(scrape_bursts(server.url, stop)))
    burster.start()
    try:
        with_scrapes = sc.wrk(server, "theme GET", ids, args.connections, args.seconds)
    finally:
        stop.set()
        burster.join()
    out["theme_with_scrape_bursts"] = {**with_scrapes.as_dict(), "bursts": bursts}
    sc.progress(f"theme GET with 50-scrape bursts: {with_scrapes.rps} req/s")
    out["pages"] = {
        name: sc.wrk(server, name, ids, args.connections, args.seconds).as_dict()
        for name in ("tenant metrics GET", "tenant metrics GET page=1000000")
    }
    sc.progress("retention")
    out["retention"] = retention(server, backend, ids, args.seconds)
    out["rss_mb_per_worker"] = sc.rss_per_worker(server)
    out["database_bytes"] = backend.size_bytes()
    out["metrics_after"] = sc.scrape_latencies(server, 1, spacing=1.05)
    return out


def markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"Growth curve — {'PostgreSQL' if args.postgres else 'SQLite'}, {args.workers} worker(s), "
        f"{args.registrations:,} registrations per size, "
        f"wrk {args.connections} connections × {args.seconds} s, "
        f"log level {args.log_level or 'INFO (default)'}, "
        f"settings {', '.join(args.set) or 'default (rate limits on)'}",
        "",
        "| tenants | /metrics bytes | scrape p95 ms | theme req/s (p99 ms, 429) | metrics req/s (p99, 429) "
        "| stories req/s (p99, 429) | theme + 50-scrape bursts req/s | page 1 / page 1e6 p99 ms "
        "| purge: deleted in s; POST p99 alone → during | RSS MB/worker | DB MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        reads = r["reads"]
        cell = [
            f"{reads[e]['rps']:,.0f} ({reads[e]['p99_ms']:.0f}, {reads[e]['rate_limited']})" for e in sc.READS
        ]
        page_1, deep = (
            r["pages"][name]["p99_ms"] for name in ("tenant metrics GET", "tenant metrics GET page=1000000")
        )
        purge = r["retention"]["purge"].get("report") or {}
        alone, during = (r["retention"][k]["p99_ms"] for k in ("writes_alone", "writes_during_purge"))
        lines.append(
            f"| {r['tenants']:,} | {r['metrics']['bytes']:,} | {r['metrics']['p95_ms']} | {' | '.join(cell)} "
            f"| {r['theme_with_scrape_bursts']['rps']:,.0f} "
            f"| {page_1:.1f} / {deep:.1f} "
            f"| {purge.get('deleted', '?')} in {purge.get('seconds', '?')} s; {alone:.0f} → {during:.0f} "
            f"| {', '.join(map(str, r['rss_mb_per_worker']))} | {r['database_bytes'] / 1e6:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,10000", help="tenant counts, comma-separated")
    parser.add_argument("--registrations", type=int, default=1_000_000, help="in all, per size")
    parser.add_argument(
        "--expired-fraction", type=float, default=0.1, help="share of idempotency records already expired"
    )
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--metrics-only", action="store_true", help="load, prime, scrape; no read/write runs")
    sc.add_run_options(parser)
    args = parser.parse_args()
    output, root = sc.prepare_run(args, "growth")
    results: list[dict[str, Any]] = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            results.append(measure_size(args, size, root))
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(
                json.dumps(
                    {"command": sys.argv, "args": vars(args) | {"json": str(output)}, "results": results},
                    indent=2,
                    default=str,
                )
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(markdown(results, args) if not args.metrics_only else json.dumps(results, indent=2))
    sc.progress(f"results: {output}")


if __name__ == "__main__":
    main()
