"""`foundation scaffold new` wall time: template + commit + register (lint excluded; target ≤ 1 s, issue #16).

Starts the API (``foundation serve``, seeded SQLite in a temporary directory, rate limits off), creates a git
repository, and generates ``--runs`` features (a new slug each), as the installed ``foundation`` command in
its own process — what a developer waits for, interpreter start and imports included — and, with
``--in-process``, through the same code without the process start (what the command's own steps cost).
The template repository is built once before the measured runs (a first run does that; it is reported
apart). No lint command is configured, so the lint step is skipped and costs nothing.

Python's bytecode cache: an installed package's modules are compiled once (pip does it at install time,
Python on first import) and read from ``__pycache__`` afterwards. The commands run here get a bytecode cache
in the benchmark's temporary directory (``PYTHONPYCACHEPREFIX``; ``PYTHONDONTWRITEBYTECODE`` removed), which
the first run fills, as on a developer's machine. ``--uncached`` also measures every start compiling every
module from source (what a process gets with ``PYTHONDONTWRITEBYTECODE=1`` and a virtualenv installed
without compiled bytecode, such as ``uv pip install`` by default).

    python bench/scaffold_new.py                   # 10 runs as a process
    python bench/scaffold_new.py --runs 20 --in-process --uncached

Prints a Markdown table: per mode, median and p90 of the whole command's wall time and CPU time (user +
system of the command and its git subprocesses), of the time outside the steps (interpreter start, imports
before the first step, the tenant check, exit), of template + commit + register as the command reports them
(timings in --json), and of each step (as a process, "template" includes importing Copier). Then the fixed
costs of a process, measured the same way: the interpreter's start, importing the CLI (every verb module,
as `foundation` does before parsing its arguments) and importing Copier. On a shared machine the CPU time
says what the command costs, the wall time what it cost under that load (the load average is printed at the
start and the end).
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


def bytecode_env(env: dict[str, str], cache: Path, *, write: bool) -> dict[str, str]:
    """``env`` with Python's bytecode cache in ``cache``. Without ``write``, ``cache`` stays empty and every
    start compiles every module (the empty prefix also hides any ``__pycache__`` beside the sources)."""
    env = {k: v for k, v in env.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    cache.mkdir(parents=True, exist_ok=True)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU time (ms, the process and its children) and stdout of a command that must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{command[:3]}: {result.stderr}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return elapsed, cpu, result.stdout


def as_process(repo: Path, slug: str, api: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    elapsed, cpu, stdout = timed(
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
        env,
    )
    return elapsed, {**json.loads(stdout), "cpuMs": cpu}


def in_process(repo: Path, slug: str, api: str) -> tuple[float, dict[str, Any]]:
    from dataclasses import asdict

    from foundation.client.scaffold.new import NewOptions, run_new

    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    started, cpu_before = time.perf_counter(), cpu()
    report = run_new(NewOptions(slug, "tenant-alfa", repo, api=api), lambda *_: None)
    elapsed = (time.perf_counter() - started) * 1000
    if report.outcome != "created":
        raise RuntimeError(report)
    # This process and the git subprocesses it waited for (Copier's and the commit's).
    return elapsed, {**asdict(report), "cpuMs": (cpu() - cpu_before) * 1000}


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):,.0f} / {p90:,.0f}"


def summary(label: str, samples: list[tuple[float, dict[str, Any]]]) -> str:
    wall = [elapsed for elapsed, _ in samples]
    timings = [report["timings"] for _, report in samples]
    steps = [t["templateMs"] + t["commitMs"] + t["registerMs"] for t in timings]
    outside = [w - sum(t.values()) for w, t in zip(wall, timings, strict=True)]
    return (
        f"| {label} | {len(samples)} | {stats(wall)} | {stats([r['cpuMs'] for _, r in samples])}"
        f" | {stats(outside)} | {stats(steps)}"
        f" | {stats([t['templateMs'] for t in timings])} | {stats([t['commitMs'] for t in timings])}"
        f" | {stats([t['registerMs'] for t in timings])} |"
    )


FIXED_COSTS = (
    ("interpreter start (`python -c pass`)", [sys.executable, "-c", "pass"]),
    (
        "the CLI's imports (`python -c 'import foundation.cli.main'`)",
        [sys.executable, "-c", "import foundation.cli.main"],
    ),
    ("`python -c 'import copier'`", [sys.executable, "-c", "import copier"]),
)


def fixed_costs(label: str, runs: int, env: dict[str, str]) -> list[str]:
    rows = []
    for name, command in FIXED_COSTS:
        timed(command, env)  # fills the bytecode cache when there is one
        samples = [timed(command, env)[:2] for _ in range(runs)]
        wall, cpu = [s[0] for s in samples], [s[1] for s in samples]
        rows.append(f"| {name}, {label} | {runs} | {stats(wall)} | {stats(cpu)} |")
    return rows


def measure(args: argparse.Namespace, directory: Path) -> tuple[list[str], list[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
    env["FOUNDATION_TEMPLATE_CACHE"] = os.environ["FOUNDATION_TEMPLATE_CACHE"]
    cached = bytecode_env(env, directory / "pycache", write=True)
    process, api = start_server(seeded(directory), directory)
    try:
        repo = make_repo(directory / "web")
        first, _ = as_process(repo, "bench-first", api, cached)
        rows = [
            summary(
                "process, bytecode cached",
                [as_process(repo, f"bench-process-{i}", api, cached) for i in range(args.runs)],
            )
        ]
        fixed = fixed_costs("bytecode cached", args.runs, cached)
        if args.uncached:
            uncached = bytecode_env(env, directory / "no-pycache", write=False)
            rows.append(
                summary(
                    "process, no bytecode cache",
                    [as_process(repo, f"bench-uncached-{i}", api, uncached) for i in range(args.runs)],
                )
            )
            fixed += fixed_costs("no bytecode cache", args.runs, uncached)
        if args.in_process:
            in_process(repo, "bench-warm", api)  # imports and first render outside the measurement
            rows.append(
                summary(
                    "in process (`run_new`)",
                    [in_process(repo, f"bench-inproc-{i}", api) for i in range(args.runs)],
                )
            )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    return rows, fixed, first


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--in-process", action="store_true", help="also measure without the process start")
    parser.add_argument(
        "--uncached", action="store_true", help="also measure processes without a bytecode cache"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-scaffold-") as scratch:
        directory = Path(scratch)
        os.environ["FOUNDATION_TEMPLATE_CACHE"] = str(directory / "template-cache")
        rows, fixed, first = measure(args, directory)
    flags = (" --in-process" if args.in_process else "") + (" --uncached" if args.uncached else "")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    loads = " → ".join(", ".join(f"{v:.1f}" for v in load) for load in (load_before, os.getloadavg()))
    machine = f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    command = f"python bench/scaffold_new.py --runs {args.runs}{flags}"
    print(f"`{command}` on {machine}, {when}, load average {loads};")
    print(
        "first run (builds the template repository cache and, as a process, the bytecode cache): "
        f"{first:,.0f} ms"
    )
    print()
    print(
        "| mode | runs | whole command, median / p90 (ms) | its CPU time (ms) | outside the steps"
        " | template + commit + register (ms) | template | commit | register |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| fixed cost of a process | runs | wall, median / p90 (ms) | CPU time (ms) |")
    print("|---|---|---|---|")
    print("\n".join(fixed))


if __name__ == "__main__":
    main()
