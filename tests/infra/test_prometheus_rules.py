"""promtool checks: generated stack config, the example config, the rules and their unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from foundation.ops.stack import config

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "infra/prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.prometheus


def _promtool(*args: str, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_check_rules() -> None:
    result = _promtool("check", "rules", "foundation.rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_unit_tests() -> None:
    files = sorted(path.name for path in PROM_DIR.glob("*.test.yml"))
    assert "foundation.rules.test.yml" in files
    result = _promtool("test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_example_config() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_generated_stack_config(tmp_path: Path) -> None:
    rules = config.find_rules_file()
    assert rules == (PROM_DIR / "foundation.rules.yml").resolve()
    path = config.write_prometheus_config(
        tmp_path / "prometheus.yml", config.prometheus_config("127.0.0.1:8000", "127.0.0.1:4318", rules)
    )
    result = _promtool("check", "config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_one_alert_per_success_criterion() -> None:
    """Each criterion of the scorecard (success_metrics/scorecard.py) has its own "missed" alert."""
    import yaml

    from foundation.success_metrics.scorecard import CRITERIA

    rules = yaml.safe_load((PROM_DIR / "foundation.rules.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    for criterion in CRITERIA:
        alert = alerts[f"Foundation{criterion.code.replace('-', '')}Missed"]
        assert f'code="{criterion.code}",status="missed"' in alert["expr"]
        assert alert["labels"]["criterion"] == criterion.code
