"""Check Prometheus Operator objects against the models generated from its CRDs (cloudcoil).

Runs in the deploy-tools venv (`make deploy-tools`), not in the test venv: cloudcoil registers a pytest
plugin. Usage: validate_monitoring.py FILE.yaml... prints {FILE: {"checked": N, "problems": [...]}} as JSON
and exits 0 (the models load slowly: one run checks every file), or exits 2 without a file. A field the models
do not know is a problem too: pydantic would drop it silently, and the API server would prune it, so the
object would not do what it says.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml
from cloudcoil.models.prometheus_operator import v1
from pydantic import ValidationError

MODELS = {
    "ServiceMonitor": v1.ServiceMonitor,
    "PodMonitor": v1.PodMonitor,
    "PrometheusRule": v1.PrometheusRule,
}
GROUP = "monitoring.coreos.com/v1"


def unknown_fields(given: Any, kept: Any, path: str = "") -> list[str]:
    """Paths present in ``given`` and missing from the model's dump of it."""
    if isinstance(given, dict):
        if not isinstance(kept, dict):
            return [path or "."]
        missing = [f"{path}.{key}" for key in given if key not in kept]
        return missing + [
            p for key in given if key in kept for p in unknown_fields(given[key], kept[key], f"{path}.{key}")
        ]
    if isinstance(given, list) and isinstance(kept, list):
        return [
            p
            for i, (a, b) in enumerate(zip(given, kept, strict=False))
            for p in unknown_fields(a, b, f"{path}[{i}]")
        ]
    return []


def check(document: dict[str, Any]) -> list[str]:
    model = MODELS[document["kind"]]
    try:
        parsed = model.model_validate(document)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    kept = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return [f"{path}: unknown field" for path in unknown_fields(document, kept)]


def check_file(path: str) -> dict[str, Any]:
    problems: list[dict[str, Any]] = []
    checked = 0
    with open(path, encoding="utf-8") as handle:
        for document in yaml.safe_load_all(handle):
            if not document or document.get("apiVersion") != GROUP:
                continue
            name = document.get("metadata", {}).get("name", "")
            if document.get("kind") not in MODELS:
                problems.append({"kind": document.get("kind"), "name": name, "problems": ["no model"]})
                continue
            checked += 1
            found = check(document)
            if found:
                problems.append({"kind": document["kind"], "name": name, "problems": found})
    return {"checked": checked, "problems": problems}


def main(paths: list[str]) -> int:
    json.dump({path: check_file(path) for path in paths}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else 2)
