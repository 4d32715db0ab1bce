"""`foundation scaffold event`: what CI calls after lint, tests and deploy (docs/scaffolding.md).

The Idempotency-Key is derived from the arguments, so a retried job replays instead of recording twice. An
event the API does not confirm within the retry budget is not spooled (a CI job is the place to retry it):
the command exits 3 and re-running it with the same arguments is safe.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from foundation.client.scaffold import errors, naming
from foundation.client.scaffold.api import Api, Unconfirmed, api_url, final_error, retry_budget
from foundation.client.scaffold.tracing import Tracer

EVENT_TYPES = ("linted", "tested", "published", "failed")
STAGES = ("lint", "test", "publish")
STATUSES = ("initiated", "linted", "tested", "published")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_URL = re.compile(r"^https?://[A-Za-z0-9][^\s/?#@\[\]]*(?:[/?#]\S*)?$", re.IGNORECASE)


@dataclass
class EventOptions:
    slug: str
    type: str
    tenant: str
    commit: str | None = None
    pipeline_url: str | None = None
    stage: str | None = None
    at: str | None = None
    api: str | None = None
    token: str | None = None


def _event_body(options: EventOptions) -> dict[str, Any]:
    problems = []
    try:
        naming.check_slug(options.slug)
    except naming.InvalidSlug as exc:
        problems.append(str(exc))
    if options.type not in EVENT_TYPES:
        problems.append(f"event type must be one of {', '.join(EVENT_TYPES)}")
    if options.stage is not None and (options.stage not in STAGES or options.type != "failed"):
        problems.append(f"--stage ({'|'.join(STAGES)}) is only for failed events")
    if options.commit is not None and not _COMMIT.fullmatch(options.commit):
        problems.append("--commit must be a full 40-character lower-case commit hash")
    url = options.pipeline_url
    if url is not None and (len(url) > 512 or not _URL.fullmatch(url)):
        problems.append("--pipeline-url must be an http(s) URL (at most 512 characters, no credentials)")
    body: dict[str, Any] = {"type": options.type}
    if options.at is not None:
        try:
            moment = datetime.fromisoformat(options.at.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            problems.append("--at must be an RFC 3339 time with an offset, e.g. 2026-01-31T12:00:00Z")
        else:
            body["occurredAt"] = options.at
    if problems:
        raise errors.ScaffoldError(errors.USAGE, "; ".join(problems))
    for name, value in (
        ("commitHash", options.commit),
        ("pipelineUrl", options.pipeline_url),
        ("stage", options.stage),
    ):
        if value is not None:
            body[name] = value
    return body


def event_key(tenant: str, slug: str, body: dict[str, Any]) -> str:
    """Derived from the arguments, so a retried CI job sends the same key and is answered as a replay."""
    digest = hashlib.sha256(f"{tenant.lower()}\n{slug}\n".encode())
    for name in sorted(body):
        digest.update(f"{name}={body[name]}\n".encode())
    return f"event-{body['type']}-{slug[:24]}-{digest.hexdigest()[:40]}"


@dataclass
class EventReport:
    outcome: str
    featureSlug: str
    type: str
    tenantId: str | None = None
    status: str | None = None
    leadTimeMinutes: float | None = None
    location: str | None = None
    traceId: str | None = None
    problem: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return {"conflict": errors.CONFLICT, "not_confirmed": errors.NOT_CONFIRMED}.get(
            self.outcome, errors.OK
        )


def run_event(options: EventOptions) -> EventReport:
    body = _event_body(options)
    tracer = Tracer("event")
    report = EventReport("created", options.slug, options.type, traceId=tracer.trace_id())
    key = event_key(options.tenant, options.slug, body)
    path = f"/api/v1/tenants/{options.tenant}/features/scaffold/{options.slug}/events"
    try:
        with (
            Api(api_url(options.api), options.token, budget=retry_budget()) as api,
            tracer.step("event", **{"scaffold.feature": options.slug, "scaffold.event": options.type}),
        ):
            headers = {
                "X-Tenant-Id": options.tenant,
                "Idempotency-Key": key,
                "traceparent": tracer.traceparent(),
            }
            try:
                answer = api.request("POST", path, headers=headers, json=body)
            except Unconfirmed as exc:
                detail = f"{exc.reason} after {exc.attempts} attempt(s)"
                report.outcome, report.problem = "not_confirmed", {"detail": detail}
                return report
    finally:
        tracer.finish(**{"scaffold.outcome": report.outcome})
    if answer.status in (200, 201):
        registration = answer.body if isinstance(answer.body, dict) else {}
        report.outcome = "created" if answer.status == 201 else "replayed"
        report.tenantId, report.status = registration.get("tenantId"), registration.get("status")
        report.leadTimeMinutes = registration.get("leadTimeMinutes")
        report.location = answer.headers.get("Location")
        return report
    error = final_error(answer, f"{options.type} event of {options.slug}")
    if error.code != errors.CONFLICT:
        raise error
    report.outcome, report.problem = "conflict", answer.problem
    return report
