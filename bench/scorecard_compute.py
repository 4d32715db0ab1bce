"""What one background computation of every tenant's scorecard costs (the ``scorecard`` part of /metrics).

Runs ``ScorecardBoard.compute()`` — the statements and the assembly a worker's refresh task runs every
``FOUNDATION_METRICS_SCORECARD_SECONDS`` — against a loaded SQLite database (a ``--db-cache`` file of
bench/growth.py or bench/tenants_workload.py), ``--runs`` times, and prints the wall time and this process's
CPU time of each. With ``FOUNDATION_METRICS_SCORECARD_MAX_SHARE`` (0.1) a worker spaces computations at least
ten times their duration apart; this is the duration.

    python bench/scorecard_compute.py --database var/bench/db-cache/sqlite-10000-1000000-<key>.db
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from foundation.settings import Settings
from foundation.success_metrics.scorecard_board import ScorecardBoard


async def measure(database: Path, runs: int) -> list[dict[str, float]]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}")
    board = ScorecardBoard(create_async_engine(settings.database_url), settings)
    results = []
    try:
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            computed = await board.compute()
            results.append(
                {
                    "wall_seconds": round(time.perf_counter() - wall, 3),
                    "cpu_seconds": round(time.process_time() - cpu, 3),
                    "tenants": len(computed.tenants),
                    "samples_in_window": sum(computed.activity.values()),
                }
            )
    finally:
        await board.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", type=Path, required=True, help="a loaded SQLite database file")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    if not args.database.is_file():
        raise SystemExit(f"error: no database file at {args.database}")
    print(json.dumps(asyncio.run(measure(args.database, args.runs)), indent=2))


if __name__ == "__main__":
    main()
