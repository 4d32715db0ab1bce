"""Instances restarted one at a time, and one killed, while load runs through the balancer.

Load: ``foundation.ops.rehearsal.load`` (bounded asyncio/httpx generator, 12 keep-alive connections, 70 %
scaffold POSTs with unique keys, 30 % current-theme GETs, over four tenants), which keeps every answer so
that each acknowledged registration (201, or 200 replay) is read back afterwards.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence

from foundation.ops.rehearsal.fleet import Fleet
from foundation.ops.rehearsal.load import Load, Outcome, tally, unreadable
from tests.api.helpers import ALFA, BETA, DEFAULT_TENANT
from tests.rehearsal.conftest import report

CONCURRENCY = 12


def load_tenants(tenants: list[str]) -> list[str]:
    return [ALFA, BETA, DEFAULT_TENANT, tenants[7]]


def failures(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Answers that are not an acknowledgement: a 5xx (from an instance or HAProxy) or no answer at all."""
    return [o for o in outcomes if o.status is None or o.status >= 500]


def retries(fleet: Fleet, before: dict[str, dict[str, int]]) -> tuple[int, int]:
    after = fleet.balancer.server_counters()
    return (
        sum(after[name]["wretr"] - before[name]["wretr"] for name in after),
        sum(after[name]["wredis"] - before[name]["wredis"] for name in after),
    )


def test_a_rolling_restart_under_load_fails_no_request_and_loses_no_registration(
    fleet: Fleet, tenants: list[str]
) -> None:
    """SIGTERM to one instance at a time, its next process started on the same port at once (the old one
    still draining); the next instance only once HAProxy has the restarted one UP again."""
    before = fleet.balancer.server_counters()
    pids = [instance.pid for instance in fleet.instances]
    with Load(fleet.url, load_tenants(tenants), concurrency=CONCURRENCY) as load:
        load.wait_for(100)
        out_of_service = [fleet.restart_instance(instance, signal.SIGTERM) for instance in fleet.instances]
        load.wait_for(100)
    outcomes = load.stop()
    assert [instance.pid for instance in fleet.instances] != pids
    assert all(old != new for old, new in zip(pids, [i.pid for i in fleet.instances], strict=True))
    assert failures(outcomes) == []
    assert {o.status for o in outcomes} <= {200, 201}, tally(outcomes)
    lost = unreadable(fleet.url, outcomes)
    assert lost == [], lost[:5]
    retried, redispatched = retries(fleet, before)
    acknowledged = sum(o.acknowledged for o in outcomes)
    report(
        f"rolling restart (SIGTERM, 3 instances, {CONCURRENCY} connections): {len(outcomes)} answers "
        f"{dict(tally(outcomes))}, 0 failed, {acknowledged} registrations acknowledged and all read back; "
        f"each instance out of service {', '.join(f'{s:.1f}' for s in out_of_service)} s; "
        f"HAProxy retries {retried}, redispatches {redispatched}"
    )


def test_a_killed_instance_is_dropped_and_only_requests_in_flight_on_it_may_fail(
    fleet: Fleet, tenants: list[str]
) -> None:
    victim = fleet.instances[1]
    before = fleet.balancer.server_counters()
    with Load(fleet.url, load_tenants(tenants), concurrency=CONCURRENCY) as load:
        load.wait_for(100)
        in_flight = fleet.balancer.server_counters()[victim.name]["scur"]
        killed_at = time.monotonic()
        process = fleet.signal_instance(victim, signal.SIGKILL)
        dropped_after = fleet.wait_balancer(victim, "DOWN", timeout=30)
        load.wait_for(100)  # the two others carry the load
        process.wait(timeout=30)
        fleet.start_instance(victim)
        fleet.wait_instance_ready(victim)
        fleet.wait_balancer(victim, "UP")
        load.wait_for(50)
    outcomes = load.stop()
    failed = failures(outcomes)
    timeline = [(o.label(), round(o.started - killed_at, 3), round(o.elapsed, 3)) for o in failed]
    # Only a request that was on its way when the process died may fail: sent before, answered after.
    assert all(o.started <= killed_at <= o.started + o.elapsed for o in failed), timeline
    assert len(failed) <= CONCURRENCY, failed
    assert {o.status for o in outcomes if o not in failed} <= {200, 201}, tally(outcomes)
    lost = unreadable(fleet.url, outcomes)
    assert lost == [], lost[:5]
    retried, redispatched = retries(fleet, before)
    report(
        f"SIGKILL of {victim.name} under load: HAProxy had it DOWN {dropped_after:.2f} s after the kill; "
        f"{len(failed)} of {len(outcomes)} answers failed {timeline} (label, sent/answered s after the kill; "
        f"{in_flight} requests were in flight on it at the kill); "
        f"HAProxy retries {retried}, redispatches {redispatched}; "
        f"{sum(o.acknowledged for o in outcomes)} registrations acknowledged, none lost"
    )
