"""Helpers for observability tests and benchmarks: a seeded SQLite database, a real `foundation serve`
subprocess on a free 127.0.0.1 port (stopped by its process group id), and readers for the embedded
collector's files. Every wait polls with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from foundation.http import listeners
from foundation.ops.procs import free_port, wait_until

ALFA = "00000000-0000-0000-0000-000000000001"
BETA = "00000000-0000-0000-0000-000000000002"
THEME_ROUTE = "/api/v1/tenants/{tenantId}/themes/current"


def seeded_database(directory: Path) -> str:
    """Create, migrate and seed a SQLite file; returns its async URL."""
    from foundation.db import Database
    from foundation.migrations import runner
    from foundation.seed import seed

    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{(directory / 'foundation.db').resolve()}"
    runner.upgrade(url)

    async def run() -> None:
        db = Database(url)
        try:
            await seed(db)
        finally:
            await db.dispose()

    asyncio.run(run())
    return url


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    env: dict[str, str] = field(default_factory=dict)

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def access_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.stdout.read_text(errors="replace").splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == "request":
                lines.append(record)
        return lines


def server_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FOUNDATION_", "OTEL_", "PROMETHEUS_MULTIPROC_DIR"))
    }
    env.update(
        {
            "FOUNDATION_DATABASE_URL": database_url,
            "FOUNDATION_VAR_DIR": str(var_dir),
            "FOUNDATION_PROFILE": "local",
            "FOUNDATION_AUTH": "off",
            "FOUNDATION_RATE_LIMIT_ENABLED": "false",
            # Tests compare scrapes taken a few requests apart: no reuse of a rendered answer.
            "FOUNDATION_METRICS_CACHE_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@contextmanager
def running_server(
    env: dict[str, str],
    log_dir: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    ready_seconds: float = 60,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
) -> Iterator[Server]:
    """`foundation serve` in its own process group; SIGTERM then SIGKILL to that group on exit.

    Ready when ``/health/ready`` answers and, with a socket per worker, when every worker listens.
    ``python`` is the interpreter of the install under test (another virtualenv's, for the runtime-only one).
    """
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = log_dir / f"server-{port}.out", log_dir / f"server-{port}.err"
    command = [
        python,
        "-m",
        "foundation.cli.main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    command += extra_args
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", port, process, stdout, stderr, env)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.logs()[-3000:]}")
            try:
                return httpx.get(f"{server.url}/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, ready_seconds, what=f"{server.url}/health/ready")
        if workers > 1 and listeners.REUSE_PORT_BALANCES and "--no-reuse-port" not in extra_args:
            wait_until(
                lambda: listeners.listening_sockets(port) >= workers,
                ready_seconds,
                what=f"{workers} workers listening on {port}",
            )
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], grace_seconds: float = 15) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_seconds)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stray workers of this group, if any
    if process.poll() is None:
        process.wait(timeout=5)


def read_spans(data_dir: Path) -> list[dict[str, Any]]:
    spans = []
    for path in sorted(data_dir.glob("spans.jsonl*")):
        for raw in path.read_text(errors="replace").splitlines():
            if raw.strip():
                spans.append(json.loads(raw))
    return spans


def collector_span_count(collector_url: str) -> int:
    try:
        return int(httpx.get(f"{collector_url}/stats", timeout=2).json()["spans"])
    except (httpx.HTTPError, ValueError, KeyError):
        return -1


def wait_for_spans(
    collector_url: str,
    data_dir: Path,
    predicate: Callable[[list[dict[str, Any]]], bool],
    deadline_seconds: float = 30,
) -> list[dict[str, Any]]:
    """Poll the collector's /stats; re-read its files whenever the span count moved, until ``predicate``."""
    seen = {"count": -2}

    def check() -> list[dict[str, Any]] | None:
        count = collector_span_count(collector_url)
        if count == seen["count"]:
            return None
        seen["count"] = count
        spans = read_spans(data_dir)
        return spans if predicate(spans) else None

    return wait_until(check, deadline_seconds, what="spans in the collector")


def scrape(base_url: str) -> dict[str, Any]:
    """Parse /metrics into {family name: family} (prometheus_client parser)."""
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    response.raise_for_status()
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def sample_value(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    """Sum of samples named ``sample_name`` whose labels include ``labels``."""
    family_name = sample_name
    for suffix in ("_total", "_bucket", "_count", "_sum", "_created"):
        if sample_name.endswith(suffix):
            family_name = sample_name[: -len(suffix)]
            break
    family = families.get(family_name) or families.get(sample_name)
    if family is None:
        return 0.0
    return sum(
        sample.value
        for sample in family.samples
        if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
