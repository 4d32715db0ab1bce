"""The rehearsal: three `foundation serve` instances behind HAProxy, one PostgreSQL, one Redis — one fleet for
the whole session (``foundation.ops.rehearsal.fleet``, the same code as ``foundation rehearse``).

These tests start and kill real processes for minutes, so they run only when asked:
``FOUNDATION_TEST_REHEARSAL=1`` (``make rehearse``, and the rehearsal stage of ``scripts/test.sh``). Every
test leaves the fleet whole (all instances running and UP in HAProxy, PostgreSQL accepting connections); the
figures each test measured are printed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.ops.rehearsal.fleet import Fleet

ENABLED = os.environ.get("FOUNDATION_TEST_REHEARSAL") == "1"
HERE = Path(__file__).parent
REPORT: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(
        reason="the rehearsal runs on its own: make rehearse (FOUNDATION_TEST_REHEARSAL=1)"
    )
    for item in items:
        if HERE not in Path(str(item.fspath)).parents:
            continue
        if not ENABLED:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section("rehearsal figures")
        for line in REPORT:
            terminalreporter.write_line(line)


def report(line: str) -> None:
    """A measured figure, printed in the run's summary (and kept in the test's output)."""
    REPORT.append(line)
    print(line)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(
        tmp_path_factory.mktemp("rehearsal"), settings={"FOUNDATION_READ_CACHE_SECONDS": "1"}
    ) as fleet:
        yield fleet


@pytest.fixture(autouse=True)
def whole_fleet(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the fleet, bring back whatever it left stopped, so one failure does not
    cascade into the next tests."""
    yield
    if "fleet" not in request.fixturenames:
        return
    fleet: Fleet = request.getfixturevalue("fleet")
    for instance in fleet.instances:
        if instance.process is None or instance.process.poll() is not None:
            fleet.start_instance(instance)
            fleet.wait_instance_ready(instance)
        fleet.wait_balancer(instance, "UP")


@pytest.fixture(scope="session")
def tenants(fleet: Fleet) -> list[str]:
    """Eight tenants of the rehearsal's own, each with a current theme, for tests that need a fresh one."""
    return fleet.create_tenants([f"rehearsal-{n}" for n in range(8)])


@pytest.fixture
async def client(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP suite's ``client``, pointed at the load balancer instead of an in-process app."""
    async with httpx.AsyncClient(base_url=fleet.url, timeout=60) as http:
        yield http
