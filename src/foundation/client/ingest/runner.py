"""One ingestion: parse and validate every file, then (unless a dry run) write stories and samples.

Order of the writes: the reachability check, the stories (storybook only), then the samples. See api.py for
what "nothing half-written" means when more than one request is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from foundation.client.ingest import KINDS, parser
from foundation.client.ingest.api import DEFAULT_RETRY_SECONDS, Api
from foundation.client.ingest.model import InputError, Options, Report, rfc3339

DEFAULT_API = "http://127.0.0.1:8000"


def parse(kind: str, files: Sequence[Path], options: Options) -> Report:
    parse_files = parser(kind)
    if parse_files is None:
        raise InputError(kind, f"unknown kind (one of: {', '.join(KINDS)})")
    if not files:
        raise InputError(kind, "no file given")
    return parse_files(files, options)


def _plain(value: Any) -> Any:
    """JSON-ready details: datetimes as RFC 3339."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def outcome_of(report: Report, options: Options, *, dry_run: bool) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "tenant": options.tenant,
        "featureSlug": options.feature,
        "dryRun": dry_run,
        "samples": [sample.document() for sample in report.samples],
        "stories": len(report.stories),
        "details": _plain(report.details),
        "warnings": list(report.warnings),
    }


def ingest(
    kind: str,
    files: Sequence[Path],
    options: Options,
    *,
    api_url: str = DEFAULT_API,
    token: str | None = None,
    dry_run: bool = False,
    timeout: float = 30.0,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    on_retry: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Raises InputError (nothing sent) or ApiError (with what was written before the failure). Each request
    is retried on transient failures within ``retry_seconds``, ``on_retry`` told one line per retry."""
    report = parse(kind, files, options)
    outcome = outcome_of(report, options, dry_run=dry_run)
    if dry_run:
        outcome["storyItems"] = report.stories
        return outcome
    with Api(api_url, token, timeout=timeout, retry_seconds=retry_seconds, on_retry=on_retry) as api:
        api.check_reachable()
        if report.stories:
            api.put_stories(options.tenant, report.stories)
        api.post_samples(options.tenant, [sample.document() for sample in report.samples])
        outcome["written"] = api.written.as_dict()
    return outcome


def summary_lines(outcome: dict[str, Any]) -> list[str]:
    """The human-readable answer (``--json`` prints the outcome itself)."""
    lines = []
    prefix = "would post" if outcome["dryRun"] else "posted"
    for sample in outcome["samples"]:
        feature = f" feature {sample['featureSlug']}" if sample.get("featureSlug") else ""
        lines.append(
            f"{prefix} {sample['code']} = {sample['value']:g} ({sample['source']}, collected "
            f"{sample['collectedAt']}{feature}) for {outcome['tenant']}"
        )
    details = outcome["details"]
    for page in details.get("pages", []):
        counts = f"{len(page['passed'])} passed, {len(page['failed'])} failed"
        lines.append(f"  {page['url']}: {page['value']:g} % ({counts})")
    if outcome["kind"] == "storybook":
        lines.append(
            f"  critical components covered for {', '.join(details['activeTenants'])}: "
            f"{len(details['covered'])} of {len(details['critical'])}; "
            f"stories for {outcome['tenant']}: {outcome['stories']}"
        )
    if outcome["kind"] == "pact":
        lines.append(f"  interactions verified: {details['verified']} of {details['catalogued']}")
    if outcome["kind"] == "pii-audit":
        lines.append(f"  records audited: {details['records']}, incidents: {details['incidents']}")
        lines.extend(f"  {f['file']}:{f['line']} {f['field']}: {f['kind']}" for f in details["findings"])
    lines.extend(f"warning: {warning}" for warning in outcome["warnings"])
    written = outcome.get("written")
    if written:
        samples, stories = written["samples"], written["stories"]
        text = f"written: {samples['accepted']} new sample(s), {samples['duplicates']} already stored"
        if outcome["kind"] == "storybook":
            text += f"; {stories['upserted']} stories upserted"
        lines.append(text)
    return lines
