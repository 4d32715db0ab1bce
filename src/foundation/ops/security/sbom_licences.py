"""The licence policy checked on the SBOM (security/licence-policy.yml, docs/security-gate.md).

No strong copyleft in the runtime: a component whose licence is denied (GPL, AGPL, SSPL … by SPDX id prefix,
or by the words of a trove classifier) fails, and so does a component without any licence information, unless
the policy lists it as an exception with a reason. Weak copyleft (LGPL, MPL) is allowed: the service imports
those libraries unmodified and the image ships their sources. An SPDX expression passes when one side of an
``OR`` passes and every part of an ``AND`` passes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from foundation.ops.security.base import PolicyError

_TOKEN = re.compile(r"\(|\)|\bAND\b|\bOR\b|\bWITH\b|[^\s()]+", re.IGNORECASE)


def load_policy(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PolicyError(f"licence policy {path} not found")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    deny = document.get("deny") or {}
    policy = {
        "spdx_prefixes": [str(p) for p in deny.get("spdx-prefixes") or []],
        "name_patterns": [re.compile(str(p), re.IGNORECASE) for p in deny.get("name-patterns") or []],
        "allow_patterns": [re.compile(str(p), re.IGNORECASE) for p in deny.get("unless-name-matches") or []],
        "exceptions": document.get("exceptions") or [],
    }
    if not policy["spdx_prefixes"]:
        raise PolicyError(f"{path}: deny.spdx-prefixes must list at least one prefix")
    for index, entry in enumerate(policy["exceptions"]):
        if (
            not isinstance(entry, dict)
            or not entry.get("package")
            or not str(entry.get("reason") or "").strip()
        ):
            raise PolicyError(f"{path}: exceptions[{index}] needs package and reason")
    return policy


def _denied_id(spdx: str, policy: dict[str, Any]) -> bool:
    upper = spdx.upper()
    if upper.startswith("LICENSEREF-"):
        return False
    return any(upper.startswith(prefix.upper()) for prefix in policy["spdx_prefixes"])


def _denied_name(name: str, policy: dict[str, Any]) -> bool:
    if any(p.search(name) for p in policy["allow_patterns"]):
        return False
    return any(p.search(name) for p in policy["name_patterns"]) or _denied_id(name, policy)


def expression_allowed(expression: str, policy: dict[str, Any]) -> bool:
    """Evaluate an SPDX expression: OR needs one allowed side, AND needs all; WITH keeps the licence."""
    tokens = _TOKEN.findall(expression)
    position = 0

    def parse_or() -> bool:
        nonlocal position
        result = parse_and()
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            right = parse_and()
            result = result or right
        return result

    def parse_and() -> bool:
        nonlocal position
        result = parse_atom()
        while position < len(tokens) and tokens[position].upper() == "AND":
            position += 1
            right = parse_atom()
            result = result and right
        return result

    def parse_atom() -> bool:
        nonlocal position
        if position >= len(tokens):
            return False
        token = tokens[position]
        position += 1
        if token == "(":  # noqa: S105  # a parenthesis, not a password
            value = parse_or()
            position += 1  # the closing parenthesis
        else:
            value = not _denied_id(token, policy)
        if position < len(tokens) and tokens[position].upper() == "WITH":
            position += 2  # an exception (e.g. Classpath-exception-2.0) does not change the verdict here
        return value

    return parse_or()


def component_licences(component: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) per declared licence: ("expression"|"id"|"name", text)."""
    found = []
    for item in component.get("licenses", []):
        if "expression" in item:
            found.append(("expression", str(item["expression"])))
            continue
        licence = item.get("license", {})
        if licence.get("id"):
            found.append(("id", str(licence["id"])))
        elif licence.get("name"):
            found.append(("name", str(licence["name"])))
    return found


def licence_findings(sbom: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    exceptions = {str(e["package"]).lower(): e for e in policy["exceptions"]}
    rows, violations, excepted = [], [], []
    for component in sbom.get("components", []):
        name = f"{component['name']}=={component.get('version')}"
        licences = component_licences(component)
        problem = None
        if not licences:
            problem = "no licence information"
        else:
            # Several declared licences (e.g. an id and a classifier) describe the same terms: all must pass.
            denied = [
                value
                for kind, value in licences
                if (kind == "expression" and not expression_allowed(value, policy))
                or (kind == "id" and _denied_id(value, policy))
                or (kind == "name" and _denied_name(value, policy))
            ]
            if denied:
                problem = f"strong copyleft licence: {', '.join(denied)}"
        rows.append({"component": name, "licences": [value for _, value in licences], "problem": problem})
        if problem:
            exception = exceptions.get(str(component["name"]).lower())
            if exception:
                excepted.append({"component": name, "problem": problem, "reason": exception["reason"]})
            else:
                violations.append({"component": name, "problem": problem})
    return {"components": rows, "violations": violations, "exceptions": excepted}
