"""The committed Grafana provisioning is current (generation == committed), valid, and uses the pinned uid."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from foundation.cli import stack as stack_cli
from foundation.ops.dashboards import grafana
from foundation.ops.dashboards.panels import DASHBOARD_TITLE, DATASOURCE_UID, PANELS, SC001_MEAN_BY_FEATURE

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "infra/grafana/provisioning"


def _app() -> typer.Typer:
    app = typer.Typer()
    stack_cli.register(app)
    return app


def test_committed_files_are_current() -> None:
    result = grafana.sync(PROVISIONING, check=True)
    assert result.stale == [], "run `foundation stack dashboards` and commit the result"


def test_dashboard_json_valid_with_pinned_uid() -> None:
    dashboard = json.loads((PROVISIONING / grafana.DASHBOARD_FILE).read_text(encoding="utf-8"))
    assert dashboard["title"] == DASHBOARD_TITLE
    assert len(dashboard["panels"]) == len(PANELS) >= 4
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["expr"].strip()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)


def test_datasource_and_provider_yaml() -> None:
    datasource = yaml.safe_load((PROVISIONING / grafana.DATASOURCE_FILE).read_text(encoding="utf-8"))
    [entry] = datasource["datasources"]
    assert entry["uid"] == DATASOURCE_UID and entry["type"] == "prometheus"
    provider = yaml.safe_load((PROVISIONING / grafana.PROVIDER_FILE).read_text(encoding="utf-8"))
    assert provider["providers"][0]["options"]["path"].endswith("/dashboards")


def test_robust_queries() -> None:
    five_xx = PANELS[1].targets[0].expr
    assert "or vector(0)" in five_xx
    assert "rate(" not in SC001_MEAN_BY_FEATURE and 'feature_slug!="__all__"' in SC001_MEAN_BY_FEATURE


def test_cli_check_and_write(tmp_path: Path) -> None:
    runner = CliRunner()
    stale = runner.invoke(_app(), ["stack", "dashboards", "--check", "--provisioning-dir", str(tmp_path)])
    assert stale.exit_code == 1
    written = runner.invoke(_app(), ["stack", "dashboards", "--provisioning-dir", str(tmp_path)])
    assert written.exit_code == 0, written.output
    ok = runner.invoke(_app(), ["stack", "dashboards", "--check", "--provisioning-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    (tmp_path / grafana.DASHBOARD_FILE).write_text("{ not json", encoding="utf-8")
    assert (
        runner.invoke(
            _app(), ["stack", "dashboards", "--check", "--provisioning-dir", str(tmp_path)]
        ).exit_code
        == 1
    )


def test_success_criteria_dashboard_has_one_panel_per_criterion_against_its_target() -> None:
    from foundation.success_metrics.scorecard import CRITERIA

    path = PROVISIONING / grafana.SC_DASHBOARD_FILE
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard["title"] == "IABank Foundation — Success criteria"
    by_code = {p["title"].split(" — ")[0]: p for p in dashboard["panels"]}
    for criterion in CRITERIA:
        exprs = [t["expr"] for t in by_code[criterion.code]["targets"]]
        assert exprs == [
            f'max by (tenant) (foundation_sc_value{{code="{criterion.code}"}})',
            f'max by (tenant) (foundation_sc_target{{code="{criterion.code}"}})',
        ]
    assert grafana.sync(PROVISIONING, check=True).stale == []
