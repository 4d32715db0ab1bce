"""A real embedded collector on a free 127.0.0.1 port, stopped and joined after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.ops.collector.server import RunningCollector, collector_in_thread


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    with collector_in_thread(tmp_path / "collector") as running:
        yield running
    assert not running.thread.is_alive()
