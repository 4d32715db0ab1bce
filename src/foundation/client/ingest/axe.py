"""``axe``: axe-core results (``axe.run()`` output, one object or an array as @axe-core/cli writes)
→ one SC-004 sample per page.

Each rule tagged wcag2a, wcag2aa, wcag21a, wcag21aa or wcag22aa gets one outcome on the page; a rule may
appear in several groups (some nodes pass, others fail), and the worst group decides:

* in ``violations`` → failed;
* otherwise in ``incomplete`` → **needs review**: axe could not decide (e.g. contrast over a background
  image). It is neither passed nor failed and is left out of both counts; the rules are listed as
  ``needsReview`` in the output so someone checks them by hand;
* otherwise in ``passes`` → passed; ``inapplicable`` rules do not count.

SC-004 = passed / (passed + failed), in percent. ``collectedAt`` is the result's ``timestamp``.
"""

from __future__ import annotations

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

KIND = "axe"
SOURCE = "ci"
GROUPS = ("violations", "incomplete", "passes")


def _wcag_rules(result: dict[str, Any], group: str, where: str) -> set[str]:
    rules = result.get(group)
    path = Path(where)
    expect(isinstance(rules, list), path, f"has no {group!r} list (not an axe-core result)")
    ids: set[str] = set()
    for index, rule in enumerate(rules):  # type: ignore[arg-type]
        expect(
            isinstance(rule, dict) and isinstance(rule.get("id"), str) and isinstance(rule.get("tags"), list),
            path,
            f"{group}[{index}] is not an axe rule result (id and tags)",
        )
        if wcag.is_wcag_aa(rule["tags"]):
            ids.add(rule["id"])
    return ids


def page_result(result: Any, path: Path, index: int | None) -> dict[str, Any]:
    where = f"{path}" if index is None else f"{path} (result {index})"
    expect(isinstance(result, dict), Path(where), "is not an axe-core result (a JSON object is expected)")
    violations, incomplete, passes = (_wcag_rules(result, group, where) for group in GROUPS)
    collected_at = parse_time(result.get("timestamp"), Path(where), "timestamp")
    url = result.get("url")
    expect(isinstance(url, str) and bool(url), Path(where), "names no page (url)")
    needs_review = incomplete - violations
    passed = passes - violations - incomplete
    decided = len(passed) + len(violations)
    expect(decided > 0, Path(where), f"no WCAG 2.x A/AA rule was decided on {url} (nothing to measure)")
    engine = result.get("testEngine")
    return {
        "file": str(path),
        "url": url,
        "axeVersion": engine.get("version") if isinstance(engine, dict) else None,
        "collectedAt": collected_at,
        "passed": sorted(passed),
        "failed": sorted(violations),
        "needsReview": sorted(needs_review),
        "value": percent(len(passed), decided),
    }


def results_of(document: Any, path: Path) -> list[tuple[Any, int | None]]:
    if isinstance(document, list):
        expect(bool(document), path, "is an empty array (no axe-core result)")
        return [(item, index) for index, item in enumerate(document)]
    return [(document, None)]


def parse(paths: Sequence[Path], options: Options) -> Report:
    if options.collected_at is not None:
        raise InputError("--collected-at", "not used by axe: each page's time is its result's timestamp")
    pages = [
        page_result(result, path, index)
        for path in paths
        for result, index in results_of(read_json(path), path)
    ]
    samples = [
        Sample("SC-004", page["value"], page["collectedAt"], SOURCE, options.feature) for page in pages
    ]
    report = Report(KIND, distinct_samples(samples, str(paths[0])))
    report.details["pages"] = pages
    for page in pages:
        if page["needsReview"]:
            report.warnings.append(
                f"{page['url']}: needs review (axe incomplete, not counted): {', '.join(page['needsReview'])}"
            )
    return report
