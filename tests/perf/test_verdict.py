"""Table-driven verdict rules (see foundation.ops.perf.verdict and docs/perf-smoke.md)."""

from __future__ import annotations

import pytest

from foundation.ops.perf.verdict import (
    evaluate,
    exit_code,
    expected_throughput,
    resolve_thresholds,
)


def test_expected_throughput_counts_four_requests_per_iteration() -> None:
    # 1 VU, think 1 s, 10 ms per request: 4 requests every 1.04 s.
    assert expected_throughput(1, 1.0, 10.0) == pytest.approx(4 / 1.04)
    assert expected_throughput(50, 1.0, 0.0) == pytest.approx(200.0)
    assert expected_throughput(5, 0.0, 0.0) is None


@pytest.mark.parametrize(
    ("mode", "vus", "think", "latency", "crit_o", "warn_o", "critical", "warning", "error_rate"),
    [
        # defaults: 50 % and 80 % of expected (expected = 4 req/s here)
        ("local", 1, 1.0, 0.0, None, None, 2.0, 3.2, 0.05),
        ("ci", 50, 1.0, 0.0, None, None, 100.0, 160.0, 0.01),
        # overridden critical: the warning default follows at critical x 1.25
        ("ci", 50, 1.0, 0.0, 40.0, None, 40.0, 50.0, 0.01),
        ("local", 1, 1.0, 0.0, 0.0, None, 0.0, 0.0, 0.05),
        # both overridden
        ("ci", 50, 1.0, 0.0, 40.0, 45.0, 40.0, 45.0, 0.01),
        # only the warning overridden, below the default critical: critical follows it down
        ("ci", 50, 1.0, 0.0, None, 60.0, 60.0, 60.0, 0.01),
        # only the warning overridden, above the default critical: critical stays
        ("ci", 50, 1.0, 0.0, None, 150.0, 100.0, 150.0, 0.01),
        # no think time and no latency observed: no throughput expectation
        ("local", 5, 0.0, 0.0, None, None, 0.0, 0.0, 0.05),
    ],
)
def test_resolve_thresholds(
    mode: str,
    vus: int,
    think: float,
    latency: float,
    crit_o: float | None,
    warn_o: float | None,
    critical: float,
    warning: float,
    error_rate: float,
) -> None:
    t = resolve_thresholds(mode, vus, think, latency, crit_o, warn_o)
    assert (t.critical, t.warning, t.error_rate) == (
        pytest.approx(critical),
        pytest.approx(warning),
        error_rate,
    )
    assert set(t.to_json()) == {"critical", "warning", "p95Ms", "p99Ms", "errorRate"}
    assert (t.p95_ms, t.p99_ms) == (600.0, 1000.0)


@pytest.mark.parametrize(
    ("crit_o", "warn_o", "message"),
    [(-1.0, None, "critical"), (None, -2.0, "warning"), (10.0, 5.0, "must be >= critical")],
)
def test_resolve_thresholds_rejects(crit_o: float | None, warn_o: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_thresholds("ci", 10, 1.0, 5.0, crit_o, warn_o)


def test_resolve_thresholds_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        resolve_thresholds("prod", 1, 1.0, 1.0)


# (mode, requests, elapsed, p95, p99, error_rate, critical override) -> (status, decidedBy)
VERDICTS = [
    # a healthy 1-VU local run is ok (the old k6 verdict called it critical)
    ("local-1vu-healthy", "local", 1, 115, 30.0, 12.0, 20.0, 0.0, None, "ok", "all"),
    ("ci-50vu-healthy", "ci", 50, 5900, 30.5, 40.0, 90.0, 0.0, None, "ok", "all"),
    ("zero-requests", "local", 1, 0, 30.0, 0.0, 0.0, 0.0, None, "critical", "throughput"),
    (
        "zero-requests-even-with-zero-threshold",
        "local",
        1,
        0,
        30.0,
        0.0,
        0.0,
        0.0,
        0.0,
        "critical",
        "throughput",
    ),
    ("throughput-critical", "ci", 50, 2000, 30.0, 40.0, 90.0, 0.0, None, "critical", "throughput"),
    ("throughput-warning", "ci", 50, 4000, 30.0, 40.0, 90.0, 0.0, None, "warning", "throughput"),
    ("p95-critical", "local", 1, 100, 30.0, 650.0, 700.0, 0.0, None, "critical", "p95"),
    ("p95-warning-band", "local", 1, 110, 30.0, 500.0, 700.0, 0.0, None, "warning", "p95"),
    ("p99-critical", "local", 1, 110, 30.0, 300.0, 1200.0, 0.0, None, "critical", "p99"),
    ("p99-warning-band", "local", 1, 110, 30.0, 300.0, 850.0, 0.0, None, "warning", "p99"),
    ("p95-exactly-600-is-ok-band-warning", "local", 1, 110, 30.0, 600.0, 700.0, 0.0, None, "warning", "p95"),
    ("error-rate-ci-1pct-critical", "ci", 50, 5900, 30.0, 40.0, 90.0, 0.01, None, "critical", "error_rate"),
    ("error-rate-ci-0.6pct-warning", "ci", 50, 5900, 30.0, 40.0, 90.0, 0.006, None, "warning", "error_rate"),
    ("error-rate-ci-0.2pct-ok", "ci", 50, 5900, 30.0, 40.0, 90.0, 0.002, None, "ok", "all"),
    ("error-rate-local-4pct-warning", "local", 1, 115, 30.0, 12.0, 20.0, 0.04, None, "warning", "error_rate"),
    (
        "error-rate-local-5pct-critical",
        "local",
        1,
        115,
        30.0,
        12.0,
        20.0,
        0.05,
        None,
        "critical",
        "error_rate",
    ),
    # several criteria critical: error rate decides first, then p95, then p99, then throughput
    ("errors-and-latency", "local", 1, 20, 30.0, 900.0, 1500.0, 0.5, None, "critical", "error_rate"),
    ("latency-and-throughput", "local", 1, 20, 30.0, 900.0, 1500.0, 0.0, None, "critical", "p95"),
    # a critical outranks a warning from an earlier criterion
    (
        "warning-error-critical-throughput",
        "ci",
        50,
        1000,
        30.0,
        40.0,
        90.0,
        0.006,
        None,
        "critical",
        "throughput",
    ),
    # overridden critical threshold: 3 req/s is ok against 2 (warning 2.5), critical against 4
    ("override-critical-ok", "local", 1, 90, 30.0, 12.0, 20.0, 0.0, 2.0, "ok", "all"),
    ("override-critical-warning", "local", 1, 90, 30.0, 12.0, 20.0, 0.0, 2.6, "warning", "throughput"),
    ("override-critical-critical", "local", 1, 90, 30.0, 12.0, 20.0, 0.0, 4.0, "critical", "throughput"),
]


@pytest.mark.parametrize(
    ("case", "mode", "vus", "requests", "elapsed", "p95", "p99", "error_rate", "crit_o", "status", "decided"),
    VERDICTS,
    ids=[row[0] for row in VERDICTS],
)
def test_verdict(
    case: str,
    mode: str,
    vus: int,
    requests: int,
    elapsed: float,
    p95: float,
    p99: float,
    error_rate: float,
    crit_o: float | None,
    status: str,
    decided: str,
) -> None:
    # mean latency ~10 ms, think 1 s: expected ~ vus x 3.85 req/s
    thresholds = resolve_thresholds(mode, vus, 1.0, 10.0, crit_o, None)
    verdict = evaluate(
        total_requests=requests,
        elapsed_seconds=elapsed,
        p95_ms=p95,
        p99_ms=p99,
        error_rate=error_rate,
        thresholds=thresholds,
    )
    assert (verdict.status, verdict.decided_by) == (status, decided), verdict.criteria
    assert [c.name for c in verdict.criteria] == ["throughput", "p95", "p99", "error_rate"]


def test_throughput_uses_real_elapsed_time() -> None:
    thresholds = resolve_thresholds("local", 1, 1.0, 10.0, 3.0, 3.0)
    # 100 requests over a configured 30 s but a real 40 s: 2.5 req/s < 3 -> critical
    verdict = evaluate(
        total_requests=100, elapsed_seconds=40.0, p95_ms=1, p99_ms=1, error_rate=0, thresholds=thresholds
    )
    assert verdict.status == "critical"
    assert verdict.criteria[0].value == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("status", "mode", "fail_on", "code"),
    [
        ("ok", "ci", None, 0),
        ("warning", "ci", None, 0),
        ("critical", "ci", None, 1),
        ("critical", "local", None, 0),
        ("warning", "local", None, 0),
        ("warning", "local", "warning", 1),
        ("critical", "local", "warning", 1),
        ("warning", "local", "critical", 0),
        ("critical", "local", "critical", 1),
        ("ok", "local", "warning", 0),
        ("warning", "ci", "warning", 1),
    ],
)
def test_exit_code(status: str, mode: str, fail_on: str | None, code: int) -> None:
    assert exit_code(status, mode, fail_on) == code
