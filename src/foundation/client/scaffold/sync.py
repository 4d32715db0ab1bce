"""`foundation scaffold sync`: replay the spool in order and remove what the API confirmed (spool.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundation.client.scaffold import errors, repo, spool
from foundation.client.scaffold.api import DEFAULT_API, Api, Unconfirmed, retry_budget
from foundation.client.scaffold.new import Report, apply_answer
from foundation.client.scaffold.tracing import Tracer


@dataclass
class SyncReport:
    results: list[dict[str, Any]] = field(default_factory=list)
    remaining: int = 0

    @property
    def exit_code(self) -> int:
        codes = [r["exitCode"] for r in self.results]
        for code in (errors.NOT_CONFIRMED, errors.CONFLICT, errors.USAGE, errors.SERVER):
            if code in codes:
                return code
        return errors.OK


def run_sync(root: Path) -> SyncReport:
    """Replay the spool in order; stop at the first entry the API does not confirm (order is kept)."""
    root = repo.work_tree(root)
    report = SyncReport()
    pending = spool.entries(root)
    for index, entry in enumerate(pending):
        result = _replay(root, entry)
        report.results.append(result)
        if result["exitCode"] == errors.NOT_CONFIRMED:
            report.remaining = len(pending) - index
            break
    return report


def _replay(root: Path, entry: spool.Entry) -> dict[str, Any]:
    request = entry.request
    slug = str(request.get("featureSlug"))
    result: dict[str, Any] = {"entry": entry.path.relative_to(root).as_posix(), "featureSlug": slug}
    tracer = Tracer("sync")
    report = Report("created", slug, traceId=tracer.trace_id())
    base = os.environ.get("FOUNDATION_API_URL") or request.get("api") or DEFAULT_API
    try:
        token = os.environ.get("FOUNDATION_TOKEN") or None
        with (
            Api(base.rstrip("/"), token, budget=retry_budget()) as api,
            tracer.step("register", **{"scaffold.feature": slug}),
        ):
            headers = {**request["headers"], "traceparent": tracer.traceparent()}
            answer = api.request("POST", request["path"], headers=headers, json=request["body"])
    except Unconfirmed as exc:
        tracer.finish(**{"scaffold.outcome": "spooled"})
        return {**result, "outcome": "spooled", "exitCode": errors.NOT_CONFIRMED, "reason": exc.reason}
    try:
        apply_answer(report, answer, what=f"register {slug}")
    except errors.ScaffoldError as exc:
        report.outcome = "rejected"
        moved = spool.rejected(entry, {"status": answer.status, "problem": exc.problem})
        return {
            **result,
            "outcome": "rejected",
            "exitCode": exc.code,
            "error": exc.message,
            "problem": exc.problem,
            "movedTo": moved.relative_to(root).as_posix(),
            "traceId": report.traceId,
        }
    finally:
        tracer.finish(**{"scaffold.outcome": report.outcome})
    if report.outcome == "conflict":
        moved = spool.rejected(entry, {"status": answer.status, "problem": report.problem})
        return {
            **result,
            "outcome": "conflict",
            "exitCode": errors.CONFLICT,
            "problem": report.problem,
            "movedTo": moved.relative_to(root).as_posix(),
            "traceId": report.traceId,
        }
    spool.confirmed(entry)
    return {
        **result,
        "outcome": report.outcome,
        "exitCode": errors.OK,
        "scaffoldId": report.scaffoldId,
        "location": report.location,
        "tenantId": report.tenantId,
        "traceId": report.traceId,
    }
