"""SBOM: CycloneDX 1.6 JSON of the locked runtime dependencies, with their hashes and licences.

How it is built (docs/security-gate.md): the lock alone names versions and hashes but no licences, and the dev
venv holds far more than the runtime. So the lock is installed, hashes checked, into a venv of its own (cached
per lock digest under ``var/security``): exactly what the image installs. ``cyclonedx-py environment`` reads
that venv's metadata (licences, purls), ``cyclonedx-py requirements`` reads the lock (the hash of every
distribution file), and the hashes are joined to the components by name and version. The two sets must be the
same. The result is validated against the CycloneDX schema (cyclonedx-python-lib's strict validator), diffed
against the previous run's SBOM, and checked against the licence policy (sbom_licences.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from foundation.ops.security.base import FAIL, PASS, Context, PolicyError, Verdict, run, tool, write_json
from foundation.ops.security.sbom_licences import licence_findings, load_policy

TITLE = "SBOM: CycloneDX of the runtime lock, schema-valid, licence policy"
SPEC_VERSION = "1.6"
_VALIDATOR_LOCK = threading.Lock()


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _key(component: dict[str, Any]) -> tuple[str, str]:
    return canonical(component["name"]), str(component.get("version", ""))


def runtime_venv(ctx: Context, lock: Path) -> Path:
    """A venv holding exactly the lock (hashes checked), reused while the lock is unchanged."""
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    venv = ctx.path(ctx.options.cache_dir) / f"runtime-venv-{digest}"
    marker = venv / ".complete"
    if marker.is_file():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    uv = tool("uv")
    log = ctx.evidence / "runtime-venv.log"
    proc = run([uv, "venv", "-q", "--python", _python(), str(venv)], log, cwd=ctx.root, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot create {venv}: {proc.stderr.strip()[-300:]}")
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    cmd = [uv, "pip", "install", "-q", "--require-hashes", "--no-deps", "-r", str(lock)]
    proc = run(cmd, log, cwd=ctx.root, timeout=900, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot install {lock}: {proc.stderr.strip()[-300:]}")
    marker.write_text(str(lock) + "\n", encoding="utf-8")
    return venv


def _python() -> str:
    import sys

    return sys.executable


def _cyclonedx(ctx: Context, args: list[str], output: Path, log: str) -> dict[str, Any]:
    cmd = [
        tool("cyclonedx-py"),
        *args,
        "--sv",
        SPEC_VERSION,
        "--of",
        "JSON",
        "--no-validate",
        "-o",
        str(output),
    ]
    proc = run(cmd, ctx.evidence / log, cwd=ctx.root, timeout=600)
    if proc.returncode != 0 or not output.is_file():
        raise RuntimeError(f"cyclonedx-py {args[0]} failed: {proc.stderr.strip()[-300:]}")
    document: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return document


def merge_hashes(environment: dict[str, Any], requirements: dict[str, Any]) -> list[str]:
    """Copy the lock's distribution hashes onto the installed components; the differences, if any."""
    locked = {_key(c): c for c in requirements.get("components", [])}
    installed = {_key(c): c for c in environment.get("components", [])}
    problems = [f"locked but not installed: {n}=={v}" for n, v in sorted(locked.keys() - installed.keys())]
    problems += [f"installed but not locked: {n}=={v}" for n, v in sorted(installed.keys() - locked.keys())]
    for key, component in installed.items():
        source = locked.get(key)
        if source is None:
            continue
        refs = [ref for ref in source.get("externalReferences", []) if ref.get("hashes")]
        for ref in refs:
            ref["comment"] = "distribution files allowed by the lock (pip --require-hashes)"
        component["externalReferences"] = [*component.get("externalReferences", []), *refs]
        if not refs:
            problems.append(f"no hash in the lock for {key[0]}=={key[1]}")
    return problems


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Errors of the CycloneDX strict JSON schema (no unknown properties). Formats are checked except the IRI
    grammar (rfc3987-syntax needs minutes per SBOM; URLs come from the packages' own metadata)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from jsonschema import FormatChecker
    from jsonschema.validators import Draft7Validator

    original = Draft7Validator.FORMAT_CHECKER
    narrowed = FormatChecker(formats=[f for f in original.checkers if f not in ("iri", "iri-reference")])
    with _VALIDATOR_LOCK:
        Draft7Validator.FORMAT_CHECKER = narrowed
        try:
            errors = JsonStrictValidator(SchemaVersion.from_version(SPEC_VERSION)).validate_str(
                json.dumps(document), all_errors=True
            )
        finally:
            Draft7Validator.FORMAT_CHECKER = original
    return [str(error)[:500] for error in (errors or [])]


def previous_sbom(ctx: Context) -> Path | None:
    """The newest SBOM of an earlier run next to this one (run folders sort by their UTC time)."""
    run_dir = ctx.evidence.parent.parent
    runs = sorted(p for p in run_dir.parent.iterdir() if p.is_dir() and p.name < run_dir.name)
    for candidate in reversed(runs):
        path = candidate / "security" / "sbom" / "sbom.cdx.json"
        if path.is_file():
            return path
    return None


def _licences(component: dict[str, Any]) -> list[str]:
    names = []
    for item in component.get("licenses", []):
        if "expression" in item:
            names.append(item["expression"])
        else:
            licence = item.get("license", {})
            names.append(licence.get("id") or licence.get("name") or "?")
    return names


def diff(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    if previous is None:
        return {"previous": None}
    old = {canonical(c["name"]): c for c in previous.get("components", [])}
    new = {canonical(c["name"]): c for c in current.get("components", [])}
    changed = [
        {
            "name": name,
            "from": old[name].get("version"),
            "to": new[name].get("version"),
            "licencesFrom": _licences(old[name]),
            "licencesTo": _licences(new[name]),
        }
        for name in sorted(old.keys() & new.keys())
        if old[name].get("version") != new[name].get("version")
        or _licences(old[name]) != _licences(new[name])
    ]
    return {
        "added": [f"{new[n]['name']}=={new[n].get('version')}" for n in sorted(new.keys() - old.keys())],
        "removed": [f"{old[n]['name']}=={old[n].get('version')}" for n in sorted(old.keys() - new.keys())],
        "changed": changed,
    }


def check(ctx: Context) -> Verdict:
    lock = ctx.path(ctx.options.lock)
    if not lock.is_file():
        return Verdict("sbom", TITLE, FAIL, f"lock file {lock} not found")
    try:
        policy = load_policy(ctx.path(ctx.options.licence_policy))
    except PolicyError as exc:
        return Verdict("sbom", TITLE, FAIL, str(exc))
    venv = runtime_venv(ctx, lock)
    pyproject = ctx.root / "pyproject.toml"
    env_args = ["environment", str(venv / "bin" / "python")]
    if pyproject.is_file():
        env_args += ["--pyproject", str(pyproject)]
    environment = _cyclonedx(ctx, env_args, ctx.evidence / "environment.cdx.json", "cyclonedx-env.log")
    requirements = _cyclonedx(
        ctx, ["requirements", str(lock)], ctx.evidence / "requirements.cdx.json", "cyclonedx-req.log"
    )
    problems = merge_hashes(environment, requirements)
    sbom_path = write_json(ctx.evidence / "sbom.cdx.json", environment)
    for name in ("environment.cdx.json", "requirements.cdx.json"):
        (ctx.evidence / name).unlink()
    errors = schema_errors(environment)
    licence_report = licence_findings(environment, policy)
    previous = previous_sbom(ctx)
    changes = diff(json.loads(previous.read_text(encoding="utf-8")) if previous else None, environment)
    changes["previous"] = str(previous) if previous else None
    diff_path = write_json(ctx.evidence / "sbom-diff.json", changes)
    licences_path = write_json(ctx.evidence / "licences.json", licence_report)
    if errors:
        write_json(ctx.evidence / "schema-errors.json", errors)
        problems.append(f"{len(errors)} CycloneDX schema error(s): {errors[0][:200]}")
    problems += [f"{v['component']}: {v['problem']}" for v in licence_report["violations"]]
    components = environment.get("components", [])
    since = (
        f"vs previous run: +{len(changes['added'])} -{len(changes['removed'])} ~{len(changes['changed'])}"
        if previous
        else "no previous run to compare with"
    )
    summary = (
        f"{len(components)} components (CycloneDX {SPEC_VERSION}, schema-valid: {not errors}), "
        f"{len(licence_report['exceptions'])} licence exception(s); {since}"
    )
    files = [sbom_path, diff_path, licences_path]
    if problems:
        return Verdict("sbom", TITLE, FAIL, f"{summary} — {'; '.join(problems[:6])}", files)
    return Verdict("sbom", TITLE, PASS, summary, files)
