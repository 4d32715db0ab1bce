"""Shared helpers of the deploy/kubernetes tests: the tools, rendered overlays, lookups."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy/kubernetes"
OVERLAYS = ("local", "staging", "production")
# The Kubernetes version the core kinds are validated against (docs/deploy-kubernetes.md, "Requirements").
KUBERNETES_VERSION = "1.31.0"
DEFAULT_TOOLS = ROOT / ".venv-deploy/bin"


def tool(name: str, *, system_fallback: bool = False) -> str:
    """A tool from the deploy venv (`make deploy-tools`). Under `make test` (FOUNDATION_DEPLOY_BIN set) a
    missing tool fails the test; without the venv a developer gets a skip naming the command that installs it.
    """
    configured = os.environ.get("FOUNDATION_DEPLOY_BIN")
    if configured:
        path = Path(configured).resolve() / name
        if not path.is_file():
            pytest.fail(f"{path} is missing: run `make deploy-tools`")
        return str(path)
    if (DEFAULT_TOOLS / name).is_file():
        return str(DEFAULT_TOOLS / name)
    found = shutil.which(name) if system_fallback else None
    if found:
        return found
    pytest.skip(f"{name} is not installed: run `make deploy-tools` (make test does)")


def kustomize(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [tool("kubectl", system_fallback=True), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@cache
def _rendered_text(overlay: str) -> str:
    return yaml.safe_dump_all(kustomize(DEPLOY / "overlays" / overlay), sort_keys=False)


def render(overlay: str) -> list[dict[str, Any]]:
    """The overlay's objects (a fresh copy each call: tests may mutate them)."""
    return [doc for doc in yaml.safe_load_all(_rendered_text(overlay)) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def find_prefix(docs: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    """A generated object whose name carries kustomize's hash suffix."""
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix + "-")]
    assert len(matches) == 1, f"expected one {kind}/{prefix}-<hash>, found {len(matches)}"
    return matches[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    [match] = [c for c in pod_spec(workload)["containers"] if c["name"] == name]
    return match


def env_of(container_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container_spec.get("env", [])}


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())
