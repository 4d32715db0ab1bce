"""The SC-001 lead-time rule and the dashboard panel are one expression; the alert compares it to the target.

Behaviour (7-day window, first registration visible at once, alert firing and resolving) is covered by the
promtool unit tests in infra/prometheus/*.test.yml (tests/infra/test_prometheus_rules.py runs them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from foundation.ops.dashboards.panels import PANELS, SC001_LEAD_TIME_P95_7D

RULES = Path(__file__).resolve().parents[2] / "infra/prometheus/foundation.rules.yml"


def _rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {rule.get("record") or rule["alert"]: rule for group in groups for rule in group["rules"]}


def _compact(expr: str) -> str:
    return re.sub(r"\s+", "", expr)


def test_panel_and_recording_rule_share_the_expression() -> None:
    rule = _rules()["foundation:sc_001_lead_time_minutes:p95_7d"]
    assert _compact(rule["expr"]) == _compact(SC001_LEAD_TIME_P95_7D)
    [panel] = [p for p in PANELS if p.title == "SC-001 — lead time p95 vs target"]
    assert panel.unit == "m"
    assert panel.targets[0].expr == SC001_LEAD_TIME_P95_7D
    assert "foundation:sc_001_lead_time_target_minutes" in panel.targets[1].expr


def test_alert_reads_the_target_series() -> None:
    rules = _rules()
    assert _compact(rules["foundation:sc_001_lead_time_target_minutes"]["expr"]) == "vector(60)"
    alert = rules["FoundationSc001LeadTimeAboveTarget"]
    assert _compact(alert["expr"]) == (
        "foundation:sc_001_lead_time_minutes:p95_7d>on()group_left()foundation:sc_001_lead_time_target_minutes"
    )
