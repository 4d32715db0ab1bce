"""`foundation scaffold new` wall time: template + commit + register (lint excluded; target ≤ 1 s, issue #16).

Starts the API (``foundation serve``, seeded SQLite in a temporary directory, rate limits off), creates a git
repository, and generates ``--runs`` features (a new slug each), as the installed ``foundation`` command in
its own process — what a developer waits for, interpreter start and imports included — and, with
``--in-process``, through the same code without the process start (what the command's own steps cost).
The template repository is built once before the measured runs (a first run does that; it is reported
apart). No lint command is configured, so the lint step is skipped and costs nothing.

    python bench/scaffold_new.py                   # 10 runs as a process
    python bench/scaffold_new.py --runs 20 --in-process

Prints a Markdown table: per mode, median and p90 of the whole command's wall time and CPU time (user +
system; as a process, the command and its git subprocesses; in process, the Python process only), of
template + commit + register as the command reports them (timings in --json), and of each step. On a shared
machine the CPU time says what the command costs, the wall time what it cost under that load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seeded(directory: Path) -> str:
    from foundation.db import Database
    from foundation.migrations import runner
    from foundation.seed import seed

    url = f"sqlite+aiosqlite:///{directory / 'foundation.db'}"
    runner.upgrade(url)

    async def run() -> None:
        db = Database(url)
        await seed(db)
        await db.dispose()

    asyncio.run(run())
    return url


def start_server(database_url: str, directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
    env.update(
        FOUNDATION_DATABASE_URL=database_url,
        FOUNDATION_VAR_DIR=str(directory / "var"),
        FOUNDATION_RATE_LIMIT_ENABLED="false",
        FOUNDATION_LOG_LEVEL="WARNING",
    )
    command = [str(BIN / "foundation"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = (directory / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(directory / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)  # polling the server's readiness with a deadline
    raise TimeoutError("server not ready in 120 s")


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    for args in (
        ("init", "--quiet", "--initial-branch", "main"),
        ("config", "user.name", "Bench"),
        ("config", "user.email", "bench@example.com"),
        ("commit", "--quiet", "--allow-empty", "-m", "initial"),
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True)
    return path


def as_process(repo: Path, slug: str, api: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [
            str(BIN / "foundation"),
            "scaffold",
            "new",
            slug,
            "--tenant",
            "tenant-alfa",
            "--root",
            str(repo),
            "--json",
            "--api",
            api,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return elapsed, {**json.loads(result.stdout), "cpuMs": cpu}


def in_process(repo: Path, slug: str, api: str) -> tuple[float, dict[str, Any]]:
    from dataclasses import asdict

    from foundation.client.scaffold.new import NewOptions, run_new

    started, cpu = time.perf_counter(), time.process_time()
    report = run_new(NewOptions(slug, "tenant-alfa", repo, api=api), lambda *_: None)
    elapsed = (time.perf_counter() - started) * 1000
    if report.outcome != "created":
        raise RuntimeError(report)
    # This process's CPU only: the git and Copier subprocesses are not counted here.
    return elapsed, {**asdict(report), "cpuMs": (time.process_time() - cpu) * 1000}


def summary(label: str, samples: list[tuple[float, dict[str, Any]]]) -> list[str]:
    def stats(values: list[float]) -> str:
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        return f"{statistics.median(ordered):,.0f} / {p90:,.0f}"

    wall = [elapsed for elapsed, _ in samples]
    timings = [report["timings"] for _, report in samples]
    steps = [t["templateMs"] + t["commitMs"] + t["registerMs"] for t in timings]
    return [
        f"| {label} | {len(samples)} | {stats(wall)} | {stats([r['cpuMs'] for _, r in samples])}"
        f" | {stats(steps)}"
        f" | {stats([t['templateMs'] for t in timings])} | {stats([t['commitMs'] for t in timings])}"
        f" | {stats([t['registerMs'] for t in timings])} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--in-process", action="store_true", help="also measure without the process start")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scaffold-") as scratch:
        directory = Path(scratch)
        os.environ["FOUNDATION_TEMPLATE_CACHE"] = str(directory / "template-cache")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
        env["FOUNDATION_TEMPLATE_CACHE"] = os.environ["FOUNDATION_TEMPLATE_CACHE"]
        process, api = start_server(seeded(directory), directory)
        try:
            repo = make_repo(directory / "web")
            first, _ = as_process(repo, "bench-first", api, env)
            rows = summary(
                "process (`foundation scaffold new`)",
                [as_process(repo, f"bench-process-{i}", api, env) for i in range(args.runs)],
            )
            if args.in_process:
                in_process(repo, "bench-warm", api)  # imports and first render outside the measurement
                rows += summary(
                    "in process (`run_new`)",
                    [in_process(repo, f"bench-inproc-{i}", api) for i in range(args.runs)],
                )
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    command = f"python bench/scaffold_new.py --runs {args.runs}{' --in-process' if args.in_process else ''}"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    machine = f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    print(f"`{command}` on {machine}, {when}, load average {load};")
    print(f"first run (builds the template repository cache): {first:,.0f} ms")
    print()
    print(
        "| mode | runs | whole command, median / p90 (ms) | its CPU time (ms)"
        " | template + commit + register (ms) | template | commit | register |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
