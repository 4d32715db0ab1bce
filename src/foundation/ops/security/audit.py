"""Dependency audit: pip-audit over the hash-checked runtime lock (what the image installs), not the dev venv.

``pip-audit --disable-pip --require-hashes -r requirements/runtime.txt`` reads the pinned versions from
the lock without resolving or installing anything, and asks the vulnerability service (OSV by default; a
mirror with ``--osv-url``) about each. Accepted vulnerabilities live in an allowlist whose entries carry the
vulnerability id, the package, a reason and an expiry date; an expired entry fails the check whether or not
it still matches.
When the service cannot be reached, the audit falls back to PyPI's project JSON (audit_pypi.py), which
audits the packages pinned at their latest release: a vulnerability found there fails the check; the packages
it cannot audit leave the check ``skipped`` with the reason — never a pass.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from foundation.ops.security import audit_pypi
from foundation.ops.security.base import (
    FAIL,
    PASS,
    SKIPPED,
    Context,
    PolicyError,
    Verdict,
    load_entries,
    parse_date,
    run,
    tool,
    write_json,
)

TITLE = "Dependency audit: pip-audit of the runtime lock"
ALLOWLIST_FIELDS = ("id", "package", "reason", "expires")
_UNREACHABLE = re.compile(
    r"(ConnectionError|NameResolutionError|Max retries exceeded|Connection refused|ConnectTimeout|"
    r"ReadTimeout|Failed to resolve|Temporary failure in name resolution)"
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowlist(ctx: Context) -> tuple[list[dict[str, Any]], list[str]]:
    path = ctx.path(ctx.options.audit_allowlist)
    entries = load_entries(path, "allow", ALLOWLIST_FIELDS)
    expired = []
    for entry in entries:
        expires = parse_date(entry["expires"], f"{path}: {entry['id']}")
        entry["expires"] = expires.isoformat()
        if expires < ctx.today:
            expired.append(f"{entry['id']} ({entry['package']}) expired on {expires.isoformat()}")
    return entries, expired


def _service_url(ctx: Context) -> str:
    return ctx.options.osv_url or "https://api.osv.dev/v1/query"


def _unreachable_reason(stderr: str) -> str | None:
    match = _UNREACHABLE.search(stderr)
    if match is None:
        return None
    lines = [line for line in stderr.strip().splitlines() if _UNREACHABLE.search(line)]
    return (lines[-1] if lines else match.group(0)).strip()[:300]


def classify(
    report: dict[str, Any], allow: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(vulnerable, allowed, not audited) dependencies of a pip-audit JSON report."""
    vulnerable, allowed, unaudited = [], [], []
    for dependency in report.get("dependencies", []):
        if dependency.get("skip_reason"):
            unaudited.append(dependency)
            continue
        for vuln in dependency.get("vulns", []):
            ids = {vuln.get("id"), *vuln.get("aliases", [])}
            entry = next(
                (
                    e
                    for e in allow
                    if e["id"] in ids and _canonical(e["package"]) == _canonical(dependency["name"])
                ),
                None,
            )
            item = {
                "package": dependency["name"],
                "version": dependency.get("version"),
                "id": vuln.get("id"),
                "aliases": vuln.get("aliases", []),
                "fixVersions": vuln.get("fix_versions", []),
                "description": (vuln.get("description") or "")[:500],
            }
            if entry is None:
                vulnerable.append(item)
            else:
                allowed.append({**item, "reason": entry["reason"], "expires": entry["expires"]})
    return vulnerable, allowed, unaudited


def _verdict(status: str, summary: str, files: list[Path] | None = None, as_reason: bool = False) -> Verdict:
    """A dependency-audit verdict; ``as_reason`` also records the summary as why nothing was audited."""
    return Verdict(
        "dependency-audit", TITLE, status, summary, files or [], reason=summary if as_reason else None
    )


def _command(ctx: Context, lock: Path, report_path: Path) -> list[str]:
    cmd = [tool("pip-audit"), "--disable-pip", "--require-hashes", "-r", str(lock)]
    cmd += ["--vulnerability-service", "osv", "--format", "json", "--output", str(report_path)]
    cmd += ["--progress-spinner", "off", "--timeout", str(int(ctx.options.audit_timeout))]
    if ctx.options.osv_url:
        cmd += ["--osv-url", ctx.options.osv_url]
    return cmd


def check(ctx: Context) -> Verdict:
    lock = ctx.path(ctx.options.lock)
    if not lock.is_file():
        return _verdict(FAIL, f"lock file {lock} not found")
    try:
        allow, expired = _allowlist(ctx)
    except PolicyError as exc:
        return _verdict(FAIL, str(exc))
    report_path = ctx.evidence / "pip-audit.json"
    log = ctx.evidence / "pip-audit.log"
    proc = run(_command(ctx, lock, report_path), log, cwd=ctx.root, timeout=900)
    if not report_path.is_file():
        return _no_report(ctx, proc, lock, log, allow, expired)
    return _judge(ctx, lock, report_path, log, allow, expired)


def _no_report(
    ctx: Context,
    proc: subprocess.CompletedProcess[str],
    lock: Path,
    log: Path,
    allow: list[dict[str, Any]],
    expired: list[str],
) -> Verdict:
    """pip-audit wrote no report: the PyPI fallback (or skipped) if OSV was unreachable, else failed."""
    reason = _unreachable_reason(proc.stderr)
    if reason is None:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return _verdict(FAIL, f"pip-audit failed: {tail[0][:300]}", [log])
    message = f"vulnerability service {_service_url(ctx)} unreachable: {reason}"
    fallback_url = getattr(ctx.options, "pypi_json_url", None)
    if fallback_url:
        report = audit_pypi.audit(lock, fallback_url, ctx.options.audit_timeout)
        report_path = write_json(ctx.evidence / "pypi-latest.json", report)
        if not report["unreachable"]:
            return _judge(ctx, lock, report_path, log, allow, expired, fallback=(fallback_url, message))
        first = report["dependencies"][0]["skip_reason"]
        message += f"; the fallback {fallback_url} is unreachable too ({first})"
    # Expired allowlist entries fail even when nothing could be audited.
    if expired:
        return _verdict(FAIL, f"{message}; {'; '.join(expired)}", [log])
    return _verdict(SKIPPED, message, [log], as_reason=True)


def _judge(
    ctx: Context,
    lock: Path,
    report_path: Path,
    log: Path,
    allow: list[dict[str, Any]],
    expired: list[str],
    fallback: tuple[str, str] | None = None,
) -> Verdict:
    """Verdict on pip-audit's report (or the PyPI fallback's: ``fallback`` = its URL and why OSV was not
    used); writes audit-summary.json next to it.

    A vulnerability not allowlisted or an expired entry fails. Packages left unaudited fail a pip-audit run
    (the service answered, but not for them); in the fallback they are expected (pinned below their latest
    release), so the check is skipped with the list, never passed."""
    report = json.loads(report_path.read_text(encoding="utf-8"))
    vulnerable, allowed, unaudited = classify(report, allow)
    audited = len(report.get("dependencies", [])) - len(unaudited)
    service = _service_url(ctx) if fallback is None else f"{fallback[0]} (project JSON, latest releases)"
    summary_file = write_json(
        ctx.evidence / "audit-summary.json",
        {
            "lock": str(lock),
            "service": service,
            "osvUnreachable": None if fallback is None else fallback[1],
            "audited": audited,
            "vulnerable": vulnerable,
            "allowed": allowed,
            "notAudited": unaudited,
            "expiredAllowlistEntries": expired,
        },
    )
    files = [report_path, summary_file, log]
    summary = (
        f"{audited} locked packages audited against {service}: {len(vulnerable)} vulnerable, "
        f"{len(allowed)} allowed by the allowlist"
    )
    problems = []
    if vulnerable:
        problems.append(", ".join(f"{v['package']} {v['version']} {v['id']}" for v in vulnerable[:8]))
    if expired:
        problems.append("; ".join(expired))
    if unaudited and audited == 0:
        reason = f"no package could be audited: {unaudited[0].get('skip_reason')}"
        return _verdict(FAIL if problems else SKIPPED, reason, files, as_reason=True)
    if unaudited and fallback is not None:
        listed = ", ".join(f"{d['name']} {d['version']}" for d in unaudited[:8])
        reason = f"{fallback[1]}; {summary}; {len(unaudited)} not audited ({listed}): {_why(unaudited)}"
        if problems:
            return _verdict(FAIL, f"{reason} — {'; '.join(problems)}", files)
        return _verdict(SKIPPED, reason, files, as_reason=True)
    if unaudited:
        problems.append(f"{len(unaudited)} package(s) not audited: {unaudited[0].get('skip_reason')}")
    if problems:
        return _verdict(FAIL, f"{summary} — {'; '.join(problems)}", files)
    return _verdict(PASS, summary, files)


def _why(unaudited: list[dict[str, Any]]) -> str:
    latest = [d for d in unaudited if d.get("latest")]
    if len(latest) == len(unaudited):
        return "pinned below their latest release, of which alone PyPI's project JSON lists vulnerabilities"
    return str(unaudited[0].get("skip_reason"))
