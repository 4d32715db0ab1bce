"""checkov over every rendered overlay: each failed check is in deploy/kubernetes/checkov-skips.yaml with its
reason and named in docs/deploy-kubernetes.md, and each listed check still fails (no stale skip)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.k8s import DEPLOY, OVERLAYS, ROOT, render, tool

SKIPS = DEPLOY / "checkov-skips.yaml"
DOC = ROOT / "docs/deploy-kubernetes.md"


def _skips() -> dict[str, dict[str, str]]:
    skips: dict[str, dict[str, str]] = yaml.safe_load(SKIPS.read_text(encoding="utf-8"))
    return skips


BROKEN = "broken.yaml"


def _broken_deployment() -> dict[str, Any]:
    """The production API Deployment with a privileged container: proof that the run can fail."""
    [deployment] = [
        d
        for d in render("production")
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "foundation-api"
    ]
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    return deployment


@pytest.fixture(scope="module")
def checkov_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, set[str]]]:
    """file -> check id -> failing resources, from one checkov run (no skips) over the three rendered
    overlays and the broken Deployment (checkov takes most of a minute to start, so it runs once)."""
    directory = tmp_path_factory.mktemp("rendered")
    for overlay in OVERLAYS:
        (directory / f"{overlay}.yaml").write_text(yaml.safe_dump_all(render(overlay)), encoding="utf-8")
    (directory / BROKEN).write_text(yaml.safe_dump(_broken_deployment()), encoding="utf-8")
    command = [tool("checkov"), "-d", str(directory), "--framework", "kubernetes", "-o", "json", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=directory, check=False)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports: Any = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    [report] = [r for r in reports if r["check_type"] == "kubernetes"]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] >= 90 and report["summary"]["passed"] > 500
    failed: dict[str, dict[str, set[str]]] = {}
    for check in report["results"]["failed_checks"]:
        by_check = failed.setdefault(Path(check["file_path"]).name, {})
        by_check.setdefault(check["check_id"], set()).add(check["resource"])
    return failed


def _overlay_failures(run: dict[str, dict[str, set[str]]]) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for name, checks in run.items():
        if name != BROKEN:
            for check, resources in checks.items():
                merged.setdefault(check, set()).update(resources)
    return merged


def test_every_failed_check_is_justified(checkov_run: dict[str, dict[str, set[str]]]) -> None:
    failed = _overlay_failures(checkov_run)
    unjustified = {check: sorted(resources) for check, resources in failed.items() if check not in _skips()}
    assert unjustified == {}, (
        "fix these, or justify them in deploy/kubernetes/checkov-skips.yaml and the docs"
    )


def test_no_stale_skip(checkov_run: dict[str, dict[str, set[str]]]) -> None:
    stale = sorted(set(_skips()) - set(_overlay_failures(checkov_run)))
    assert stale == [], "these no longer fail: remove them from checkov-skips.yaml and the docs"


def test_a_real_misconfiguration_is_reported(checkov_run: dict[str, dict[str, set[str]]]) -> None:
    assert "CKV_K8S_16" in checkov_run[BROKEN]  # "Container should not be privileged"
    assert "CKV_K8S_16" not in _overlay_failures(checkov_run)


def test_every_skip_has_a_reason_and_is_in_the_docs() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert "deploy/kubernetes/checkov-skips.yaml" in doc
    for check, entry in _skips().items():
        assert entry["check"] and len(entry["reason"]) > 80, check
        assert check in doc, f"docs/deploy-kubernetes.md does not name {check}"
