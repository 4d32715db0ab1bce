"""Benchmark: /metrics size and scrape latency after N scaffold registrations (default 10,000, 3 tenants).

Registrations go through the service layer (the same code the POST handler runs: idempotency record,
registration row, SC-001 sample), then a real `foundation serve` (one worker, 127.0.0.1) is scraped
``--scrapes`` times. Targets: body < 300 KB, median and p95 < 50 ms.

    python bench/metrics_scrape.py [--registrations 10000] [--scrapes 30] [--recent-features 100]

Scrapes are measured uncached (FOUNDATION_METRICS_CACHE_SECONDS=0): every scrape renders.
Many tenants: bench/growth.py.

Prints one JSON object; the server is stopped by its process group id on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.observability.servers import running_server, seeded_database, server_env  # noqa: E402

from foundation.db import Database  # noqa: E402
from foundation.scaffolds import service  # noqa: E402
from foundation.scaffolds.schemas import ScaffoldRequest  # noqa: E402
from foundation.tenancy.service import TenantDirectory  # noqa: E402

TENANTS = ("tenant-alfa", "tenant-beta")  # plus the next seeded tenant: 3 in all


async def register_many(database_url: str, count: int) -> float:
    db = Database(database_url)
    rng = random.Random(42)  # reproducible sample data, not a secret
    started = time.perf_counter()
    try:
        directory = TenantDirectory(db)
        listed = await directory.list()
        tenants = [t for t in listed if t.slug in TENANTS]
        tenants += [t for t in listed if t not in tenants][: 3 - len(tenants)]
        for index in range(count):
            tenant = tenants[index % len(tenants)]
            request = ScaffoldRequest.model_validate(
                {
                    "featureSlug": f"feature-{index:05d}",
                    "initiatedBy": "8c9f8a0e-3c1e-4c7e-9b58-1f9f0b7d2a11",
                    "slices": [
                        {"slice": "features", "files": [{"path": f"src/f/{index}.ts", "checksum": "e" * 64}]}
                    ],
                    "lintCommitHash": "f" * 40,
                    "scReferences": ["@SC-001"],
                    "durationMs": rng.randint(30_000, 86_400_000),
                }
            )
            await service.register(
                db, tenant, service.Attempt.of(f"bench-{index}", request), timedelta(hours=24)
            )
    finally:
        await db.dispose()
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registrations", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--recent-features", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as raw:
        root = Path(raw)
        database_url = seeded_database(root / "db")
        register_seconds = asyncio.run(register_many(database_url, args.registrations))
        env = server_env(
            database_url,
            root / "var",
            FOUNDATION_METRICS_SC001_RECENT_FEATURES=str(args.recent_features),
        )
        with running_server(env, root / "logs") as server, httpx.Client(base_url=server.url) as client:
            for _ in range(3):  # warm-up: connection, caches
                client.get("/metrics").raise_for_status()
            latencies, sizes = [], []
            for _ in range(args.scrapes):
                started = time.perf_counter()
                response = client.get("/metrics")
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                sizes.append(len(response.content))
            body = response.text
    sc001_series = sum(1 for line in body.splitlines() if line.startswith("sc_001_scaffolding_minutes_count"))
    result = {
        "registrations": args.registrations,
        "tenants": len(
            {
                line.split('tenant_slug="')[1].split('"')[0]
                for line in body.splitlines()
                if line.startswith("sc_001_scaffolding_minutes_count")
            }
        ),
        "registerSeconds": round(register_seconds, 1),
        "recentFeatures": args.recent_features,
        "scrapes": args.scrapes,
        "bytes": sizes[-1],
        "sc001Series": sc001_series,
        "latencyMs": {
            "median": round(statistics.median(latencies), 2),
            "p95": round(percentile(latencies, 0.95), 2),
            "max": round(max(latencies), 2),
        },
        "targets": {"bytes": 300_000, "latencyMs": 50},
        "ok": sizes[-1] < 300_000 and percentile(latencies, 0.95) < 50,
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
