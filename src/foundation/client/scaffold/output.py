"""What `foundation scaffold` prints: one progress line per step on stderr, then the result on stdout (a line,
or one JSON object with ``--json``), and for failures one ``error:`` line plus the API's Problem Details."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, is_dataclass
from typing import Any

from foundation.client.scaffold import errors


def progress(step: str, message: str, milliseconds: float) -> None:
    print(f"{step:<9}{message}  ({milliseconds:.0f} ms)", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def problem_lines(problem: dict[str, Any] | None) -> list[str]:
    if not problem:
        return []
    lines = []
    title = problem.get("title")
    if title:
        lines.append(f"  title: {title} (HTTP {problem.get('status', '?')})")
    if problem.get("detail"):
        lines.append(f"  detail: {problem['detail']}")
    for violation in problem.get("violations") or []:
        if isinstance(violation, dict):
            lines.append(f"  - {violation.get('field')}: {violation.get('message')}")
    if problem.get("traceId"):
        lines.append(f"  traceId: {problem['traceId']}")
    return lines


def emit_json(value: Any) -> None:
    data = asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if v is not None}
    print(json.dumps(data, indent=2, sort_keys=False))


def error(exc: errors.ScaffoldError, *, as_json: bool, **context: Any) -> int:
    """Report a failure; returns its exit code."""
    print(f"error: {exc.message}", file=sys.stderr)
    for line in problem_lines(exc.problem):
        print(line, file=sys.stderr)
    if as_json:
        outcome = "conflict" if exc.code == errors.CONFLICT else "error"
        emit_json(
            {
                "outcome": outcome,
                "exitCode": exc.code,
                "error": exc.message,
                "problem": exc.problem,
                **context,
            }
        )
    return exc.code


def summary_new(report: Any) -> None:
    """The human result of `scaffold new` (``report`` is a new.Report)."""
    if report.outcome == "dry_run":
        print(json.dumps(report.request, indent=2))
        for entry in report.files:
            print(f"{entry['checksum']}  {entry['path']}")
        return
    where = report.location or report.spooledTo or ""
    print(f"{report.outcome}: {report.featureSlug} {where} (lintCommitHash {report.lintCommitHash})")
