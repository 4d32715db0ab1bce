"""The change feed on PostgreSQL (LISTEN/NOTIFY as the application role): two workers keep answers past the
bound, and a write on one is read on both within it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_read_staleness import (
    HEADERS,
    assert_feed_keeps_answers_and_carries_writes,
    assert_replays_follow_an_event_on_any_worker,
    feed_env,
)
from tests.observability.servers import running_server

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_answers_outlive_the_bound_and_a_write_still_reaches_every_worker_within_it(
    database_url: str, tmp_path: Path
) -> None:
    env, multiproc = feed_env(database_url, tmp_path)
    with running_server(env, tmp_path / "logs", workers=2) as server:
        assert_feed_keeps_answers_and_carries_writes(server.url, multiproc, HEADERS)
        assert_replays_follow_an_event_on_any_worker(server.url)
