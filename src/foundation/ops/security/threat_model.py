"""Threat-model lint: docs/threat-model.md against the served OpenAPI document and the test suite.

The model's machine-readable part is the fenced block tagged ``yaml threat-model`` (format in the document
itself): ``threats`` by id (STRIDE letters, owner, mitigation, tests, status, review date), then ``endpoints``
("METHOD /path") and ``flows`` mapping each of the six STRIDE letters to threat ids. The lint fails when
an operation of the OpenAPI document (``foundation openapi``) has no entry or misses a STRIDE letter, when a
threat lacks a field, names a test that does not exist (pytest node ids, resolved by reading the test
files), is filed under a letter it does not declare, or when a review date has passed.
"""

from __future__ import annotations

import ast
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from foundation.ops.security.base import FAIL, PASS, Context, Verdict, parse_date, run, write_json
from foundation.ops.stack.config import cli_command

TITLE = "Threat model: STRIDE per endpoint and flow, tests exist, reviews current"
STRIDE = ("S", "T", "R", "I", "D", "E")
STATUSES = ("mitigated", "accepted", "open")
THREAT_FIELDS = ("title", "stride", "owner", "mitigation", "tests", "status", "review")
_BLOCK = re.compile(r"^```yaml threat-model[^\n]*\n(.*?)^```", re.S | re.M)
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


class ModelError(ValueError):
    pass


def load_model(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"{path} not found")
    blocks = _BLOCK.findall(path.read_text(encoding="utf-8"))
    if len(blocks) != 1:
        raise ModelError(f"{path}: expected exactly one ```yaml threat-model block, found {len(blocks)}")
    try:
        model = yaml.safe_load(blocks[0])
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: the threat-model block is not valid YAML: {exc}") from exc
    if not isinstance(model, dict) or not isinstance(model.get("threats"), dict):
        raise ModelError(f"{path}: the block needs a `threats` mapping")
    return model


def operations(openapi: dict[str, Any]) -> list[str]:
    return [
        f"{method.upper()} {path}"
        for path, item in openapi.get("paths", {}).items()
        for method in item
        if method in HTTP_METHODS
    ]


def _defined_tests(path: Path) -> set[str]:
    """Node-id suffixes defined in a test module: ``name`` and ``Class::name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    names.add(f"{node.name}::{item.name}")
    return names


def missing_tests(node_ids: list[str], root: Path) -> list[str]:
    """The node ids that name no test (file missing, or no such function/method; ``[params]`` ignored)."""
    cache: dict[Path, set[str]] = {}
    missing = []
    for node_id in node_ids:
        file_part, _, name = str(node_id).partition("::")
        path = root / file_part
        if not name or not path.is_file() or not file_part.endswith(".py"):
            missing.append(node_id)
            continue
        if path not in cache:
            try:
                cache[path] = _defined_tests(path)
            except SyntaxError:
                cache[path] = set()
        if re.sub(r"\[.*\]$", "", name) not in cache[path]:
            missing.append(node_id)
    return missing


def _threat_problems(threat_id: str, threat: Any, root: Path, today: date) -> list[str]:
    if not isinstance(threat, dict):
        return [f"threat {threat_id}: must be a mapping"]
    # An open threat (not mitigated yet) may have no test; anything else names the tests that prove it.
    optional = ("tests",) if threat.get("status") == "open" else ()
    problems = [
        f"threat {threat_id}: lacks {name}"
        for name in THREAT_FIELDS
        if name not in optional and not threat.get(name)
    ]
    if problems:
        return problems
    letters = threat["stride"] if isinstance(threat["stride"], list) else [threat["stride"]]
    if any(letter not in STRIDE for letter in letters):
        problems.append(f"threat {threat_id}: stride must be letters of {''.join(STRIDE)}, not {letters}")
    if threat["status"] not in STATUSES:
        problems.append(
            f"threat {threat_id}: status {threat['status']!r} is not one of {', '.join(STATUSES)}"
        )
    tests = threat.get("tests") or []
    tests = tests if isinstance(tests, list) else [tests]
    problems += [f"threat {threat_id}: test {t} does not exist" for t in missing_tests(tests, root)]
    try:
        review = parse_date(threat["review"], f"threat {threat_id}")
        if review < today:
            problems.append(f"threat {threat_id}: review overdue since {review.isoformat()}")
    except ValueError as exc:
        problems.append(str(exc))
    return problems


def _coverage_problems(kind: str, entries: Any, threats: dict[str, Any]) -> list[str]:
    if not isinstance(entries, dict):
        return [f"`{kind}` must be a mapping"]
    problems = []
    for name, letters in entries.items():
        if not isinstance(letters, dict):
            problems.append(f"{kind} {name}: must map STRIDE letters to threat ids")
            continue
        for letter in STRIDE:
            ids = letters.get(letter) or []
            ids = ids if isinstance(ids, list) else [ids]
            if not ids:
                problems.append(f"{kind} {name}: no threat under {letter}")
            for threat_id in ids:
                threat = threats.get(threat_id)
                if threat is None:
                    problems.append(f"{kind} {name}: {letter} names unknown threat {threat_id}")
                elif isinstance(threat, dict) and letter not in (threat.get("stride") or []):
                    problems.append(
                        f"{kind} {name}: threat {threat_id} is filed under {letter} but is not {letter}"
                    )
    return problems


def lint(model: dict[str, Any], openapi: dict[str, Any], root: Path, today: date) -> dict[str, Any]:
    threats: dict[str, Any] = model["threats"]
    endpoints = model.get("endpoints") or {}
    served = operations(openapi)
    problems = [f"endpoint {op} is not in the threat model" for op in served if op not in endpoints]
    problems += _coverage_problems("endpoint", endpoints, threats)
    problems += _coverage_problems("flow", model.get("flows") or {}, threats)
    for threat_id, threat in threats.items():
        problems += _threat_problems(threat_id, threat, root, today)
    review = model.get("review") or {}
    if not review.get("next"):
        problems.append("review.next (the date of the model's next review) is missing")
    else:
        try:
            if parse_date(review["next"], "review.next") < today:
                problems.append(f"the model's review is overdue since {review['next']}")
        except ValueError as exc:
            problems.append(str(exc))
    return {
        "served": served,
        "modelled": sorted(endpoints) if isinstance(endpoints, dict) else [],
        "notServed": sorted(set(endpoints) - set(served)) if isinstance(endpoints, dict) else [],
        "flows": sorted(model.get("flows") or {}),
        "threats": len(threats),
        "open": sorted(t for t, v in threats.items() if isinstance(v, dict) and v.get("status") == "open"),
        "problems": problems,
    }


def openapi_document(ctx: Context) -> dict[str, Any]:
    path = ctx.evidence / "openapi.json"
    proc = run(
        cli_command("openapi", "--output", str(path)), ctx.evidence / "openapi.log", cwd=ctx.root, timeout=120
    )
    if proc.returncode != 0 or not path.is_file():
        raise RuntimeError(f"foundation openapi failed: {proc.stderr.strip()[-300:]}")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def check(ctx: Context) -> Verdict:
    model_path = ctx.path(ctx.options.threat_model)
    try:
        model = load_model(model_path)
    except ModelError as exc:
        return Verdict("threat-model", TITLE, FAIL, str(exc))
    openapi = (
        json.loads(Path(ctx.options.openapi).read_text(encoding="utf-8"))
        if ctx.options.openapi
        else openapi_document(ctx)
    )
    result = lint(model, openapi, ctx.root, ctx.today)
    report = write_json(ctx.evidence / "threat-model-lint.json", result)
    files = [report] + ([ctx.evidence / "openapi.json"] if not ctx.options.openapi else [])
    summary = (
        f"{len(result['served'])} served operations, {len(result['modelled'])} modelled "
        f"({len(result['notServed'])} not served yet), {len(result['flows'])} flows, "
        f"{result['threats']} threats "
        f"({len(result['open'])} open)"
    )
    if result["problems"]:
        listed = "; ".join(result["problems"][:6])
        return Verdict(
            "threat-model", TITLE, FAIL, f"{summary} — {len(result['problems'])} problem(s): {listed}", files
        )
    return Verdict("threat-model", TITLE, PASS, summary, files)
