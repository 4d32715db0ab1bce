"""Concurrency against a real `foundation serve` process (uvicorn, real sockets) on the test database."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import scaffold_body, scaffold_headers, scaffold_path
from tests.observability.servers import running_server, server_env


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    env = server_env(database_url, tmp_path, FOUNDATION_PROFILE="test", FOUNDATION_LOG_LEVEL="WARNING")
    with running_server(env, tmp_path / "logs") as running:
        yield running.url


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


@pytest.mark.timing  # the median answer time on one connection against the delayed-ACK delay
@pytest.mark.parametrize("workers", [1, 2])
def test_keep_alive_answers_never_wait_for_a_delayed_ack(
    database_url: str, tmp_path: Path, workers: int
) -> None:
    """Headers and body leave in two writes; with Nagle's algorithm on (uvicorn's shared socket under several
    workers on the asyncio loop) each answer waited ~40 ms for the client's delayed ACK."""
    env = server_env(database_url, tmp_path, FOUNDATION_PROFILE="test", FOUNDATION_LOG_LEVEL="WARNING")
    server = running_server(env, tmp_path / "logs", workers=workers)
    # One keep-alive connection: the delay showed on every answer after the first.
    with server as running, httpx.Client(base_url=running.url, timeout=10) as http:
        durations = []
        for _ in range(21):
            started = time.perf_counter()
            assert http.get("/health").status_code == 200
            durations.append(time.perf_counter() - started)
    assert statistics.median(durations[1:]) < 0.02, durations
