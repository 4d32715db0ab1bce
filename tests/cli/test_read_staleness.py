"""The documented staleness bound, across real worker processes: a write acknowledged by one worker is seen by
every read that starts FOUNDATION_READ_CACHE_SECONDS later, whichever worker answers it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from foundation.http import listeners
from tests.observability.servers import running_server, seeded_database, server_env
from tests.observability.test_workers import HEADERS, THEME, theme_count_per_pid

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not listeners.REUSE_PORT_BALANCES, reason="workers share connections on Linux only"),
]

TTL = 1.0
TOKENS = {"foundation": {"color.brand.primary": "#123456", "color.brand.on-primary": "#FFFFFF"}}


def read_versions(base_url: str, count: int) -> list[str]:
    """``count`` theme GETs, each on a new connection, so the kernel spreads them over the workers."""
    with httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        return [client.get(THEME, headers=HEADERS).json()["version"] for _ in range(count)]


def test_a_write_on_one_worker_is_read_everywhere_within_the_bound(tmp_path: Path) -> None:
    multiproc = tmp_path / "multiproc"
    env = server_env(
        seeded_database(tmp_path / "db"),
        tmp_path / "var",
        FOUNDATION_TRACING_ENABLED="false",
        FOUNDATION_READ_CACHE_SECONDS=str(TTL),
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    with running_server(env, tmp_path / "logs", workers=2) as server:
        assert set(read_versions(server.url, 30)) == {"1.0.0"}  # every worker now keeps the old answer
        warmed = theme_count_per_pid(multiproc)
        assert len(warmed) == 2, warmed

        published = httpx.put(
            f"{server.url}/api/v1/tenants/tenant-alfa/themes/3.0.0",
            json={"categories": TOKENS, "makeCurrent": True},
            headers=HEADERS,
        )
        assert published.status_code == 201 and published.json()["current"] is True, published.text
        acknowledged = time.monotonic()

        time.sleep(max(0.0, acknowledged + TTL - time.monotonic()))
        versions = read_versions(server.url, 30)
        after = theme_count_per_pid(multiproc)

    assert set(versions) == {"3.0.0"}, versions
    assert all(after[pid] > warmed[pid] for pid in warmed), "both workers answered reads after the bound"
