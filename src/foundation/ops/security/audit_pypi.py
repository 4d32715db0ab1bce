"""The dependency audit's fallback when the OSV service cannot be reached: PyPI's project JSON.

PyPI's ``/pypi/<project>/json`` describes a project *at its latest release*, and its ``vulnerabilities`` key
lists the advisories (PyPA advisory database / OSV, the data pip-audit's services use) affecting that release.
So for every locked package pinned at its project's latest release this is a real audit of the pinned
version; a package pinned below its latest release cannot be audited this way (the per-release JSON,
``/pypi/<project>/<version>/json``, is what pip-audit's ``pypi`` service needs), and is listed as not
audited with the reason. The result has the shape of pip-audit's JSON report (``dependencies`` with ``vulns``
or ``skip_reason``), so the audit's allowlist and verdict rules apply unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "https://pypi.org/pypi"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> list[tuple[str, str]]:
    """(canonical name, version) of every ``name==version`` line of a lock file."""
    found = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            found.append((_canonical(match.group(1)), match.group(2)))
    return found


def _vulns(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": entry.get("id"),
            "aliases": list(entry.get("aliases") or []),
            "fix_versions": list(entry.get("fixed_in") or []),
            "description": entry.get("summary") or entry.get("details") or "",
        }
        for entry in entries
        if not entry.get("withdrawn")  # a withdrawn advisory is no vulnerability
    ]


def _one(client: httpx.Client, base_url: str, name: str, version: str) -> dict[str, Any]:
    dependency: dict[str, Any] = {"name": name, "version": version}
    try:
        response = client.get(f"{base_url.rstrip('/')}/{name}/json")
    except httpx.TransportError as exc:
        return {**dependency, "skip_reason": f"unreachable: {type(exc).__name__}: {exc}"[:300]}
    if response.status_code != 200:
        return {**dependency, "skip_reason": f"the index answered {response.status_code} for {name}"}
    document = response.json()
    latest = str(document.get("info", {}).get("version"))
    if latest != version:
        return {
            **dependency,
            "latest": latest,
            "skip_reason": f"pinned {version}, the index's latest release is {latest}: PyPI's project JSON "
            "lists the vulnerabilities of the latest release only",
        }
    if not isinstance(document.get("vulnerabilities"), list):
        return {**dependency, "skip_reason": "the index's project JSON has no vulnerabilities list"}
    return {**dependency, "vulns": _vulns(document["vulnerabilities"])}


def audit(lock: Path, base_url: str, timeout: float) -> dict[str, Any]:
    """A pip-audit-shaped report of the lock's pins from PyPI's project JSON, plus ``unreachable``: True when
    not one project could be fetched (the index is down too)."""
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        dependencies = [_one(client, base_url, name, version) for name, version in pins(lock)]
    unreachable = bool(dependencies) and all(
        str(d.get("skip_reason", "")).startswith("unreachable:") for d in dependencies
    )
    return {"service": base_url, "dependencies": dependencies, "unreachable": unreachable}
