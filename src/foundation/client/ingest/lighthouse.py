"""``lighthouse``: Lighthouse results (LHR, JSON, v10+) → one SC-004 sample per page.

SC-004 of a page = passed / applicable WCAG 2.x A/AA axe audits of the accessibility category, in percent:

* an audit counts when its axe rule is tagged wcag2a, wcag2aa, wcag21a, wcag21aa or wcag22aa (the tags of
  a failing audit are in ``details.debugData.tags``; the others come from the rule table, see wcag.py);
* ``binary`` audits: score 1 passed, otherwise failed; ``error`` audits (axe could not run the rule) count as
  failed, since conformance cannot be claimed; ``notApplicable``, ``manual`` and ``informative`` audits do
  not count. Lighthouse itself scores a rule whose only axe results are "incomplete" as passed; the LHR does
  not say which rules those were, so this kind inherits that choice (the ``axe`` kind does not).

``collectedAt`` is the report's ``fetchTime``; the page is ``finalDisplayedUrl`` (v10+; ``finalUrl`` before).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foundation.client.ingest import wcag
from foundation.client.ingest.model import (
    InputError,
    Options,
    Report,
    Sample,
    distinct_samples,
    expect,
    parse_time,
    percent,
    read_json,
)

KIND = "lighthouse"
SOURCE = "lighthouse"
MIN_MAJOR_VERSION = 10
COUNTED_MODES = ("binary", "error")
VERSION = re.compile(r"([0-9]{1,6})\.[0-9]{1,6}(?:\.[0-9]{1,6})?(?:[-+.].*)?$")


def _version(report: dict[str, Any], path: Path) -> str:
    version = report.get("lighthouseVersion")
    expect(isinstance(version, str), path, "is not a Lighthouse result (no lighthouseVersion)")
    match = VERSION.match(str(version))
    expect(match is not None, path, f"lighthouseVersion {str(version)[:40]!r} is not a version number")
    major = int(match.group(1))  # type: ignore[union-attr]
    expect(
        major >= MIN_MAJOR_VERSION,
        path,
        f"Lighthouse {version}: only results of Lighthouse 10 or later are supported",
    )
    return str(version)


def _audit_tags(audit_id: str, audit: dict[str, Any]) -> tuple[str, ...] | None:
    details = audit.get("details")
    debug = details.get("debugData") if isinstance(details, dict) else None
    tags = debug.get("tags") if isinstance(debug, dict) else None
    if isinstance(tags, list) and all(isinstance(tag, str) for tag in tags):
        return tuple(tags)
    return wcag.rule_tags(audit_id)


def page_result(report: Any, path: Path) -> dict[str, Any]:
    """The page's WCAG audits: passed, failed and errored rule ids (validated LHR)."""
    expect(isinstance(report, dict), path, "is not a Lighthouse result (a JSON object is expected)")
    version = _version(report, path)
    runtime_error = report.get("runtimeError")
    if isinstance(runtime_error, dict) and runtime_error.get("code"):
        raise InputError(
            path,
            f"the Lighthouse run failed ({runtime_error.get('code')}: {runtime_error.get('message', '')})",
        )
    collected_at = parse_time(report.get("fetchTime"), path, "fetchTime")
    url = report.get("finalDisplayedUrl") or report.get("finalUrl") or report.get("requestedUrl")
    expect(isinstance(url, str) and bool(url), path, "names no page (finalDisplayedUrl)")
    categories, audits = report.get("categories"), report.get("audits")
    expect(isinstance(categories, dict) and isinstance(audits, dict), path, "has no categories or audits")
    category = categories.get("accessibility")  # type: ignore[union-attr]
    expect(
        isinstance(category, dict) and isinstance(category.get("auditRefs"), list),
        path,
        "has no accessibility category (run Lighthouse with it: --only-categories=accessibility or all)",
    )
    passed: list[str] = []
    failed: list[str] = []
    errored: list[str] = []
    unknown: list[str] = []
    for ref in category["auditRefs"]:  # type: ignore[index]
        audit_id = ref.get("id") if isinstance(ref, dict) else None
        audit = audits.get(audit_id) if isinstance(audit_id, str) else None  # type: ignore[union-attr]
        expect(isinstance(audit, dict), path, f"accessibility audit {audit_id!r} is missing from audits")
        mode = audit.get("scoreDisplayMode")  # type: ignore[union-attr]
        if mode not in COUNTED_MODES:
            continue
        tags = _audit_tags(str(audit_id), audit)  # type: ignore[arg-type]
        if tags is None:
            unknown.append(str(audit_id))
        elif wcag.is_wcag_aa(tags):
            if mode == "error":
                errored.append(str(audit_id))
            elif audit.get("score") == 1:  # type: ignore[union-attr]
                passed.append(str(audit_id))
            else:
                failed.append(str(audit_id))
    applicable = len(passed) + len(failed) + len(errored)
    expect(applicable > 0, path, f"no WCAG 2.x A/AA audit applies to {url} (nothing to measure)")
    return {
        "file": str(path),
        "url": url,
        "lighthouseVersion": version,
        "collectedAt": collected_at,
        "passed": sorted(passed),
        "failed": sorted(failed),
        "errored": sorted(errored),
        "unknownAudits": sorted(unknown),
        "value": percent(len(passed), applicable),
    }


def parse(paths: Sequence[Path], options: Options) -> Report:
    if options.collected_at is not None:
        raise InputError("--collected-at", "not used by lighthouse: each page's time is its fetchTime")
    pages = [page_result(read_json(path), path) for path in paths]
    samples = [
        Sample("SC-004", page["value"], page["collectedAt"], SOURCE, options.feature) for page in pages
    ]
    report = Report(KIND, distinct_samples(samples, str(paths[0])))
    report.details["pages"] = pages
    report.details["axeRuleTable"] = wcag.rule_table()[0]
    for page in pages:
        if page["unknownAudits"]:
            report.warnings.append(
                f"{page['file']}: audits not in the axe-core {wcag.rule_table()[0]} rule table left out: "
                + ", ".join(page["unknownAudits"])
            )
    return report
