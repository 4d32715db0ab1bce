"""Concurrency against a real `foundation serve` process (uvicorn, real sockets) on the test database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.helpers import scaffold_body, scaffold_headers, scaffold_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server(database_url: str, cwd: object, workers: int = 1) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "FOUNDATION_DATABASE_URL": database_url,
        "FOUNDATION_PROFILE": "test",
        "FOUNDATION_RATE_LIMIT_ENABLED": "false",
        "FOUNDATION_LOG_LEVEL": "WARNING",
        "FOUNDATION_VAR_DIR": str(cwd),
    }
    command = [
        sys.executable,
        "-m",
        "foundation.cli.main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        cwd=str(cwd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def server(database_url: str, tmp_path: object) -> Iterator[str]:
    with running_server(database_url, tmp_path) as base:
        yield base


async def test_parallel_identical_first_requests_over_sockets(server: str) -> None:
    headers = scaffold_headers(key="socket-key")
    async with httpx.AsyncClient(
        base_url=server, timeout=30, limits=httpx.Limits(max_connections=20)
    ) as http:
        responses = await asyncio.gather(
            *(
                http.post(scaffold_path(), json=scaffold_body("socket-feature"), headers=headers)
                for _ in range(20)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201], statuses
    assert len({r.json()["scaffoldId"] for r in responses}) == 1


async def test_parallel_different_keys_over_sockets(server: str) -> None:
    async with httpx.AsyncClient(
        base_url=server, timeout=30, limits=httpx.Limits(max_connections=20)
    ) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    scaffold_path(), json=scaffold_body("socket-race"), headers=scaffold_headers(key=f"k-{i}")
                )
                for i in range(20)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, statuses


@pytest.mark.parametrize("workers", [1, 2])
def test_keep_alive_answers_never_wait_for_a_delayed_ack(
    database_url: str, tmp_path: object, workers: int
) -> None:
    """Headers and body leave in two writes; with Nagle's algorithm on (uvicorn's shared socket under several
    workers on the asyncio loop) each answer waited ~40 ms for the client's delayed ACK."""
    with (
        running_server(database_url, tmp_path, workers) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        durations = []
        for _ in range(21):
            started = time.perf_counter()
            assert http.get("/health").status_code == 200
            durations.append(time.perf_counter() - started)
    assert statistics.median(durations[1:]) < 0.02, durations
