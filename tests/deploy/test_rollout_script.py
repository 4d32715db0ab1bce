"""deploy/kubernetes/rollout.sh applies a release in order: platform, PostgreSQL ready, migration Job
complete, then the API. A kubectl stand-in records every call (kustomize is the real one: the script renders
for real); there is no cluster here, so what is tested is the order and the stop on a failed migration."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.k8s import DEPLOY, tool

SCRIPT = DEPLOY / "rollout.sh"
STAND_IN = """#!/usr/bin/env bash
echo "$*" >> "$KUBECTL_LOG"
case " $* " in
  *" kustomize "*) exec "$REAL_KUBECTL" kustomize "${@: -1}" ;;
esac
case "$*" in
  *"wait job/foundation-migrate"*) exit "${MIGRATION_RC:-0}" ;;
esac
exit 0
"""


def _run(tmp_path: Path, migration_rc: int) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    stand_in = tmp_path / "kubectl"
    stand_in.write_text(STAND_IN, encoding="utf-8")
    stand_in.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "KUBECTL": str(stand_in),
        "KUBECTL_LOG": str(log),
        "REAL_KUBECTL": tool("kubectl", system_fallback=True),
        "MIGRATION_RC": str(migration_rc),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), str(DEPLOY / "overlays/production"), "--context", "prod"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return result, log.read_text(encoding="utf-8").splitlines()


def test_order_platform_database_migration_api(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, migration_rc=0)
    assert result.returncode == 0, result.stderr
    assert all(call.startswith("--context prod ") for call in calls)
    steps = [call.removeprefix("--context prod ") for call in calls]
    ns = "--namespace iabank-foundation"
    assert steps[0].startswith("kustomize ") and steps[0].endswith("overlays/production")
    rendered = steps[1].split()[2]
    assert steps[1:] == [
        f"apply -f {rendered} -l app.kubernetes.io/component notin (api,migration)",
        f"{ns} wait cluster.postgresql.cnpg.io/foundation-pg --for=condition=Ready --timeout=15m",
        f"{ns} delete job foundation-migrate --ignore-not-found --wait=true",
        f"apply -f {rendered} -l app.kubernetes.io/component=migration",
        f"{ns} wait job/foundation-migrate --for=condition=Complete --timeout=15m",
        f"apply -f {rendered} -l app.kubernetes.io/component=api",
        f"{ns} rollout status deployment/foundation-api --timeout=10m",
    ]
    assert not Path(rendered).exists(), "the rendered file is removed"


def test_the_labels_split_the_overlay_as_the_script_expects() -> None:
    """Every object lands in exactly one of the three applies; the API's and the Job's in theirs."""
    from tests.deploy.k8s import render

    docs = render("production")
    components = {
        (d["kind"], d["metadata"]["name"]): d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        for d in docs
    }
    assert components[("Job", "foundation-migrate")] == "migration"
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
        assert components[(kind, "foundation-api")] == "api"
    # What the Job needs exists before it runs: its Secret references are not applied with the API.
    assert all(c != "api" for (kind, _), c in components.items() if kind in {"Secret", "Cluster", "Pooler"})
    assert [d for d in docs if d["kind"] == "Namespace"], "the script reads the namespace from the render"


@pytest.mark.parametrize("rc", [1])
def test_a_failed_migration_stops_before_the_api(tmp_path: Path, rc: int) -> None:
    result, calls = _run(tmp_path, migration_rc=rc)
    assert result.returncode == 1
    assert "the migration Job did not complete; the API was not rolled out" in result.stderr
    assert not [c for c in calls if "component=api" in c or "rollout status" in c]
    assert calls[-1].endswith("logs job/foundation-migrate --all-containers --tail=50")
