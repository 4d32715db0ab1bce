"""The change feed on PostgreSQL (LISTEN/NOTIFY as the application role): two workers keep answers past the
bound, and a write on one is read on both within it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_read_staleness import (
    HEADERS,
    TTL,
    assert_feed_keeps_answers_and_carries_writes,
    assert_replays_follow_an_event_on_any_worker,
)
from tests.observability.servers import running_server, server_env

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_answers_outlive_the_bound_and_a_write_still_reaches_every_worker_within_it(
    database_url: str, tmp_path: Path
) -> None:
    multiproc = tmp_path / "multiproc"
    env = server_env(
        database_url,
        tmp_path / "var",
        FOUNDATION_TRACING_ENABLED="false",
        FOUNDATION_READ_CACHE_SECONDS=str(TTL),
        FOUNDATION_READ_CACHE_MAX_AGE_SECONDS="300",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    with running_server(env, tmp_path / "logs", workers=2) as server:
        assert_feed_keeps_answers_and_carries_writes(server.url, multiproc, HEADERS)
        assert_replays_follow_an_event_on_any_worker(server.url)
