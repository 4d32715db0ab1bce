"""What the instances share: the database (one registration for concurrent duplicates on different
instances), Redis (one rate-limit budget), and how long an instance may serve what another one changed
(``FOUNDATION_READ_CACHE_SECONDS``, docs/architecture.md "Read cache" and "Response cache")."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from foundation.ops.rehearsal.fleet import Fleet, Instance
from foundation.seed import demo_theme
from tests.api.helpers import (
    STORIES,
    assert_problem,
    metrics_path,
    sample,
    scaffold_body,
    scaffold_path,
    story,
)
from tests.api.helpers import theme_path as theme_version_path
from tests.rehearsal.conftest import report


@pytest.mark.parametrize("route", ["to each instance in turn", "through the balancer"])
def test_twenty_identical_registrations_on_three_instances_create_one(
    fleet: Fleet, tenants: list[str], route: str
) -> None:
    tenant = tenants[4]
    slug = f"concurrent-{uuid.uuid4().hex[:8]}"
    body = scaffold_body(slug, durationMs=60_000)
    start = threading.Barrier(20)
    before = fleet.balancer.server_counters()

    def send(number: int) -> httpx.Response:
        base = fleet.instances[number % 3].url if route.startswith("to each") else fleet.url
        with httpx.Client(base_url=base, timeout=60) as http:  # a connection of its own
            start.wait(timeout=60)
            return http.post(
                scaffold_path(tenant), json=body, headers={"X-Tenant-Id": tenant, "Idempotency-Key": slug}
            )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses[201] == 1, statuses
    assert set(statuses) <= {200, 201, 409}, statuses  # never a 5xx
    registered = {a.json()["scaffoldId"] for a in answers if a.status_code in (200, 201)}
    assert len(registered) == 1
    stored = httpx.get(
        f"{fleet.url}{scaffold_path(tenant)}/{slug}", headers={"X-Tenant-Id": tenant}, timeout=60
    )
    assert stored.json()["scaffoldId"] in registered
    if route == "through the balancer":
        after = fleet.balancer.server_counters()
        served = {name: after[name]["stot"] - before[name]["stot"] for name in after}
        assert all(count > 0 for count in served.values()), served
    report(f"20 identical scaffold POSTs {route}: {dict(sorted(statuses.items()))}")


def test_one_rate_limit_budget_across_instances(fleet: Fleet) -> None:
    """N + 1 writes for one tenant, each sent to the next instance: exactly the last one is refused, and the
    remaining budget each instance reports counts down as one counter."""
    # A tenant of its own whose write budget nothing has touched: the window starts with the first PUT here
    # (a window started earlier could end half-way through the requests).
    [tenant] = fleet.create_tenants(["rehearsal-budget"], with_theme=False)
    limit = int(fleet.settings["FOUNDATION_RATE_LIMIT_WRITE_PER_MINUTE"])
    theme = {"categories": demo_theme("#1D4ED8")}
    answers = []
    for number in range(limit + 1):
        instance = fleet.instances[number % len(fleet.instances)]
        answers.append(
            httpx.put(
                f"{instance.url}{theme_version_path(tenant, '3.0.0')}",
                headers={"X-Tenant-Id": tenant},
                json=theme,
                timeout=60,
            )
        )
    statuses = [answer.status_code for answer in answers]
    assert statuses == [201] + [200] * (limit - 1) + [429], statuses
    remaining = [int(answer.headers["ratelimit-remaining"]) for answer in answers]
    assert remaining == [*range(limit - 1, -1, -1), 0], remaining
    assert {int(answer.headers["ratelimit-limit"]) for answer in answers} == {limit}
    refused = answers[-1]
    assert_problem(refused, 429, "rate_limit_exceeded")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    report(f"rate limit {limit}/min over {len(fleet.instances)} instances: answers {Counter(statuses)}")


# --- staleness across instances ------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    instance: str
    variant: int
    started: float
    finished: float
    fresh: bool


@dataclass(frozen=True)
class Resource:
    name: str
    path: str
    params: dict[str, str]
    write: Callable[[Instance], httpx.Response]
    fresh: Callable[[httpx.Response], bool]


def resources(tenant: str, marker: str) -> list[Resource]:
    headers = {"X-Tenant-Id": tenant}
    collected = "2027-01-01T00:00:00Z"

    def publish(instance: Instance) -> httpx.Response:
        body = {"categories": demo_theme("#14532D"), "makeCurrent": True}
        return httpx.put(f"{instance.url}{theme_version_path(tenant, '5.0.0')}", headers=headers, json=body)

    def ingest(instance: Instance) -> httpx.Response:
        samples = {"samples": [sample("SC-004", 0.5, collected, "manual")]}
        return httpx.post(f"{instance.url}{metrics_path(tenant)}", headers=headers, json=samples)

    def upsert(instance: Instance) -> httpx.Response:
        item = story("staleness", f"staleness--{marker}", tenant)
        return httpx.put(f"{instance.url}{STORIES}", headers=headers, json={"stories": [item]})

    return [
        Resource(
            "current theme",
            f"/api/v1/tenants/{tenant}/themes/current",
            {},
            publish,
            lambda r: r.json()["version"] == "5.0.0",
        ),
        Resource(
            "tenant metrics",
            metrics_path(tenant),
            {"code": "SC-004"},
            ingest,
            lambda r: any(item["collectedAt"].startswith("2027-01-01") for item in r.json()["data"]),
        ),
        Resource(
            "stories",
            STORIES,
            {"componentId": "staleness"},
            upsert,
            lambda r: any(item["storyId"] == f"staleness--{marker}" for item in r.json()["data"]),
        ),
    ]


def read(instance: Instance, resource: Resource, tenant: str, variant: int) -> Read:
    """Variant 0 is the plain request; variant 1 adds a query parameter the API ignores, as another client
    would: a distinct cached answer of the same data, refreshed on its own schedule."""
    params = {**resource.params, **({"client": "other"} if variant else {})}
    started = time.monotonic()
    response = httpx.get(
        f"{instance.url}{resource.path}", params=params, headers={"X-Tenant-Id": tenant}, timeout=30
    )
    assert response.status_code == 200, response.text
    return Read(instance.name, variant, started, time.monotonic(), resource.fresh(response))


class Poller(threading.Thread):
    """Reads ``resource`` from each instance in turn, both variants, back to back, until stopped."""

    def __init__(self, instances: list[Instance], resource: Resource, tenant: str) -> None:
        super().__init__(daemon=True)
        self.instances, self.resource, self.tenant = instances, resource, tenant
        self.reads: list[Read] = []
        self.started_at = time.monotonic()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for instance in self.instances:
                for variant in (0, 1):
                    self.reads.append(read(instance, self.resource, self.tenant, variant))

    def wait_until(self, moment: float, timeout: float = 120) -> None:
        """Until a read has started at ``moment`` or later (the poller runs on its own)."""
        deadline = time.monotonic() + timeout
        while not (self.reads and self.reads[-1].started >= moment):
            assert self.is_alive() and time.monotonic() < deadline, "the poller stopped"
            time.sleep(0.02)


def test_a_write_on_one_instance_is_seen_on_every_other_within_the_read_cache_bound(
    fleet: Fleet, tenants: list[str]
) -> None:
    """Every read that starts ``FOUNDATION_READ_CACHE_SECONDS`` or more after the write was acknowledged
    answers the new state, on every instance; the writing instance answers it at once; no instance goes back
    to the old state once it has shown the new one.

    The other instances are read continuously (one client, each instance's own port) from a bound before the
    write to half a second past the bound after it, in two request variants whose cached answers refresh on
    their own schedules. An answer may be served at most the bound after the read that produced it started,
    so the bound is exact, with no slack. With a data-level cache under the response cache (before the "one
    cache, one bound" change) a variant's answer could be rebuilt after the write from data cached before it:
    old answers were measured up to 1.28 s after the write with a 1 s setting.
    """
    bound = float(fleet.settings["FOUNDATION_READ_CACHE_SECONDS"])
    tenant = tenants[6]
    writer, *readers = fleet.instances
    for resource in resources(tenant, uuid.uuid4().hex[:8]):
        poller = Poller(readers, resource, tenant)
        poller.start()
        try:
            poller.wait_until(poller.started_at + bound)  # caches filled and refreshed before the write
            writing = time.monotonic()
            written = resource.write(writer)
            assert written.status_code in (200, 201), written.text
            acknowledged = time.monotonic()
            assert read(writer, resource, tenant, 0).fresh, f"{resource.name}: the writer must read its write"
            poller.wait_until(acknowledged + bound + 0.5)
        finally:
            poller.stopping.set()
            poller.join(timeout=60)
        before = [r for r in poller.reads if r.finished < writing]
        assert before and not any(r.fresh for r in before), f"{resource.name}: new state before the write"
        after = [r for r in poller.reads if r.started >= acknowledged]
        late_stale = [
            (r.instance, r.variant, round(r.started - acknowledged, 3))
            for r in after
            if not r.fresh and r.started >= acknowledged + bound
        ]
        assert late_stale == [], (
            f"{resource.name}: reads started after {bound} s answered the old state: {late_stale}"
        )
        for instance in readers:
            for variant in (0, 1):
                mine = [r.fresh for r in after if r.instance == instance.name and r.variant == variant]
                assert True in mine, f"{resource.name}: {instance.name} never answered the new state"
                assert all(mine[mine.index(True) :]), f"{resource.name}: {instance.name} went back"
        stale = [r.started - acknowledged for r in after if not r.fresh]
        report(
            f"staleness of {resource.name} on other instances: {len(stale)} of {len(after)} reads after the "
            f"write answered the old state, the last one started {max(stale, default=0.0):.2f} s after it "
            f"(bound {bound:.1f} s)"
        )
