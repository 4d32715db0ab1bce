"""DAST against real processes: the API in its production profile with JWT on survives every probe, and a
planted 5xx endpoint fails the check with the finding listed under that endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from foundation.ops.security.dast import _schemathesis_findings
from foundation.ops.security.dast_probes import run_probes
from foundation.ops.security.dast_server import start
from tests.security.conftest import ROOT, run_check

pytestmark = pytest.mark.integration


@pytest.mark.security_stage_repeats  # the gate's DAST runs these probes on the same production API
def test_probes_find_nothing_on_the_production_api(tmp_path: Path) -> None:
    target = start(tmp_path / "target")
    try:
        health = httpx.get(f"{target.base_url}/api/v1/design-system/stories", timeout=10)
        assert health.status_code == 401  # production profile, JWT on: no token, no answer
        openapi = httpx.get(f"{target.base_url}/openapi.json", timeout=30).json()
        findings, probed, requests = run_probes(target.base_url, target.tokens, openapi)
        alive = target.alive()
    finally:
        target.stop()
    assert alive
    assert probed >= 10 and requests >= 300
    assert findings == {}, json.dumps(findings, indent=2)[:3000]


def test_a_5xx_endpoint_fails_the_dast(tmp_path: Path) -> None:
    verdict = run_check(
        "dast", ROOT, tmp_path / "evidence", dast_app="tests.security.fixture_app:create_app", dast_examples=3
    )
    assert verdict.status == "fail"
    report = json.loads((tmp_path / "evidence" / "findings-by-endpoint.json").read_text())
    broken = report["findings"]["GET /api/v1/tenants/{tenantId}/broken"]
    assert any("server error 500" in item["detail"] for item in broken), broken
    assert any(item["probe"] == "schemathesis:ST101" for item in broken), broken
    assert (
        "GET /api/v1/tenants/{tenantId}/broken"
        in (tmp_path / "evidence" / "findings-by-endpoint.md").read_text()
    )
    assert not (tmp_path / "evidence" / "target" / "auth" / "private.pem").exists()


def _report(**changes: object) -> dict[str, object]:
    """A clean schemathesis JSON report (cli/json_report.py's shape), with ``changes``."""
    report: dict[str, object] = {
        "complete": True,
        "stop_reason": "completed",
        "operations": {"total": 10, "selected": 10, "tested": 10, "errored": 0, "skipped": 0},
        "test_cases": {"generated": 250, "with_failures": 0, "errored": 0},
        "failures": [],
        "errors": [],
    }
    return {**report, **changes}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"errors": [{"title": "Hook Error", "count": 1}]}, "Hook Error"),
        ({"complete": False, "stop_reason": "error"}, "did not complete"),
        ({"operations": {"total": 10, "tested": 0, "errored": 0}}, "no operation was tested"),
        ({"operations": {"total": 10, "tested": 10, "errored": 2}}, "2 operation(s) errored"),
        ({"test_cases": {"generated": 250, "errored": 3}}, "3 test case(s) errored"),
    ],
)
def test_a_schemathesis_run_that_errored_is_a_finding(changes: dict[str, object], expected: str) -> None:
    """A hook that crashed (the header/leak check then checks nothing) or a run that tested nothing must not
    pass as a clean run."""
    assert _schemathesis_findings(_report(), []) == ({}, [])
    findings, _ = _schemathesis_findings(_report(**changes), [])
    assert any(expected in item["detail"] for item in findings["(schemathesis)"]), findings
