"""HAProxy's own answers: with no instance alive it answers the contract's 503 Problem itself (a balancer of
its own here, in front of ports where nothing listens), and the runtime API reports its servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from foundation.ops.devtools._proc import free_port
from foundation.ops.rehearsal.haproxy import LIVE_BACKEND, READY_BACKEND, Backend, Config, HAProxy
from tests.api.helpers import assert_problem
from tests.observability.servers import poll

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def lonely_balancer(tmp_path: Path) -> Iterator[HAProxy]:
    servers = [Backend("api1", free_port()), Backend("api2", free_port())]
    balancer = HAProxy(Config(free_port(), servers, tmp_path / "admin.sock"), tmp_path)
    balancer.start()
    try:
        yield balancer
    finally:
        balancer.stop()


def test_with_no_instance_alive_the_balancer_answers_a_503_problem(lonely_balancer: HAProxy) -> None:
    for backend in (READY_BACKEND, LIVE_BACKEND):
        poll(
            lambda b=backend: set(lonely_balancer.server_states(b).values()) == {"DOWN"},  # type: ignore[misc]
            30,
            f"servers of {backend} DOWN",
        )
    with httpx.Client(base_url=lonely_balancer.url, timeout=10) as client:
        traced = client.get(
            "/api/v1/tenants/tenant-alfa/themes/current",
            headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
            params={"page": "1"},
        )
        body = assert_problem(traced, 503, "service_unavailable")
        assert body["traceId"] == TRACE
        assert body["instance"] == "/api/v1/tenants/tenant-alfa/themes/current"
        assert traced.headers["retry-after"] == "5"
        assert traced.headers["cache-control"] == "no-store"
        untraced = client.post("/api/v1/tenants/tenant-alfa/features/scaffold", json={})
        assert assert_problem(untraced, 503, "service_unavailable")["traceId"] != TRACE
    assert lonely_balancer.process is not None
    pid = lonely_balancer.process.pid
    lonely_balancer.stop()
    assert lonely_balancer.process is None
    with pytest.raises(ProcessLookupError):  # stopped by its PID, and gone
        os.kill(pid, 0)
