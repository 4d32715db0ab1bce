"""The workload of record of issue #18: many tenants, a random tenant per request, every endpoint.

``--tenants`` (5,000) tenants, each with a current theme, a story, SC samples, ``--registrations-each`` (4)
registrations and a replayable registration, loaded through the service layer. A real `foundation serve`
(SQLite: 1 worker; ``--postgres``: 2 workers, a fresh database on the private cluster of `make db-up`) with
default settings — INFO log level and access log on, rate limits as configured by default, the 1 s metrics
render cache — then, for each endpoint, wrk with ``--connections`` (50) for ``--seconds``, each time after an
unrecorded ``--warm-up`` (and, with ``--prime``, after requests of that endpoint for every tenant until every
worker is likely to hold them, ``scale_common.prime_rounds``: the steady state, where every worker keeps every
tenant's answers), in ``--rounds`` rounds (endpoints alternate within a round):

theme GET, tenant metrics GET, stories GET, scaffold POST new (fresh key and slug per request), scaffold
POST replay (the loaded fixture's key and body), GET /metrics, and GET /metrics as Prometheus asks for it
(``Accept-Encoding: gzip``).

Printed: req/s (median of rounds), p50/p99, 429s and errors (5xx and socket errors) per endpoint, against
the previous implementation's req/s on this workload (issue #18) and the 10× target. Progress on stderr,
a Markdown table on stdout, everything to ``--json`` (default ``var/bench/workload-<UTC time>.json``).

    python bench/tenants_workload.py --tenants 500 --seconds 5          # a quick run
    python bench/tenants_workload.py                                    # SQLite, 1 worker
    python bench/tenants_workload.py --postgres                         # PostgreSQL, 2 workers
    python bench/tenants_workload.py --only scaffold --rounds 3         # the lead's inner loop
    python bench/tenants_workload.py --prime                            # steady state (cache warm)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_common as sc

from foundation.ops.devtools.bulk_load import LoadPlan

ENDPOINTS = (
    "theme GET",
    "tenant metrics GET",
    "stories GET",
    "scaffold POST new",
    "scaffold POST replay",
    "GET /metrics",
    "GET /metrics gzip",
)
# What --prime requests for every tenant before measuring an endpoint: the endpoint itself where its answers
# are kept in memory; for new registrations, which keep nothing, a theme read, so the process knows every
# tenant (its tenant directory), as a deployment's does (`--only "scaffold POST new"` was measured cold).
PRIMED = {
    "theme GET": "theme GET",
    "tenant metrics GET": "tenant metrics GET",
    "stories GET": "stories GET",
    "scaffold POST new": "theme GET",
    "scaffold POST replay": "scaffold POST replay",
}
# The previous implementation on this workload (issue #18: PostgreSQL, gunicorn × 4, medians of 3 rounds).
PREVIOUS_RPS = {
    "theme GET": 147,
    "tenant metrics GET": 290,
    "stories GET": 285,
    "scaffold POST new": 144,
    "scaffold POST replay": 227,
    "GET /metrics": 546,
    "GET /metrics gzip": 546,
}


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    backend = sc.make_backend(args.postgres, root, args.log_level)
    backend.env.update(sc.server_settings(args))
    try:
        sc.migrate(backend)
        sc.progress(f"loading {args.tenants} tenants × {args.registrations_each} registrations")
        plan = LoadPlan(args.tenants, args.tenants * args.registrations_each)
        loaded = sc.load(backend, plan, args.db_cache)
        ids = loaded.pop("tenant_ids")
        server = sc.start_server(backend, args.workers)
        try:
            rounds: dict[str, list[dict[str, Any]]] = {e: [] for e in ENDPOINTS if args.only in e}
            for number in range(args.rounds):
                for endpoint in rounds:
                    if args.prime and endpoint in PRIMED:
                        primed = sc.prime(server, ids, [PRIMED[endpoint]])
                        sc.progress(f"primed {endpoint} with {PRIMED[endpoint]}: {primed}")
                    sc.wrk(server, endpoint, ids, args.connections, args.warm_up)  # unrecorded
                    flame = (
                        args.py_spy / f"{endpoint.replace(' ', '-').replace('/', '')}"
                        if args.py_spy
                        else None
                    )
                    with sc.py_spy(server, args.seconds, flame):
                        result = sc.wrk(server, endpoint, ids, args.connections, args.seconds)
                    rounds[endpoint].append(result.as_dict())
                    sc.progress(
                        f"round {number + 1} {endpoint}: {result.rps:,.0f} req/s, "
                        f"p99 {result.p99_ms:.0f} ms, 429 {result.rate_limited}, errors {result.errors}"
                    )
            rss = sc.rss_per_worker(server)
            metrics = sc.scrape_latencies(server, 1, spacing=1.05)
        finally:
            server.stop()
        return {
            "backend": backend.kind,
            "workers": args.workers,
            "settings": sc.server_settings(args),
            "load": loaded,
            "endpoints": {e: summarise(r) for e, r in rounds.items()},
            "rounds": rounds,
            "rss_mb_per_worker": rss,
            "database_bytes": backend.size_bytes(),
            "metrics_after": metrics,
        }
    finally:
        backend.drop()


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    median = statistics.median(r["rps"] for r in rounds)
    return {
        "rps_median": round(median, 1),
        "rps": [r["rps"] for r in rounds],
        "p50_ms": max(r["p50_ms"] for r in rounds),
        "p99_ms": max(r["p99_ms"] for r in rounds),
        "requests": sum(r["requests"] for r in rounds),
        "cpu_us": round(statistics.median(r["cpu_us"] for r in rounds), 1),
        "rate_limited": sum(r["rate_limited"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "statuses": [r["statuses"] for r in rounds],
    }


PRIMED_NOTE = "primed (every worker holds every tenant's answers)"


def markdown(result: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"Workload of record — {result['backend']}, {result['workers']} worker(s), "
        f"{args.tenants:,} tenants × {args.registrations_each} registrations, random tenant per request, "
        f"wrk {args.connections} connections × {args.seconds} s × {args.rounds} round(s), "
        f"log level {args.log_level or 'INFO (default)'}, rate limits default, "
        f"{PRIMED_NOTE if args.prime else 'not primed'}; "
        f"RSS per worker {result['rss_mb_per_worker']} MB",
        "",
        "| endpoint | req/s (median) | × previous (target ≥ 10×) | p50 ms | p99 ms (max of rounds) "
        "| 429 | errors | server CPU µs/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for endpoint, s in result["endpoints"].items():
        ratio = s["rps_median"] / PREVIOUS_RPS[endpoint]
        lines.append(
            f"| {endpoint} | {s['rps_median']:,.0f} | {ratio:.1f}× | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} "
            f"| {s['rate_limited']} | {s['errors']} | {s['cpu_us']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=5000)
    parser.add_argument("--registrations-each", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", default="", help="endpoints whose name contains this text")
    parser.add_argument(
        "--prime",
        action="store_true",
        help="before measuring a read or the replay, one request of it per tenant: the steady state of a "
        "deployment whose tenants were each served once within FOUNDATION_READ_CACHE_MAX_AGE_SECONDS",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="record a py-spy flame graph of each serving process during each measured run into DIR "
        "(profiling, not measuring: the sampler costs the server a few percent)",
    )
    sc.add_run_options(parser)
    args = parser.parse_args()
    output, root = sc.prepare_run(args, "workload")
    try:
        result = run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"command": sys.argv, "result": result}, indent=2, default=str))
    print(markdown(result, args))
    sc.progress(f"results: {output}")


if __name__ == "__main__":
    main()
