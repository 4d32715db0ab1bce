"""What one virtual user does per iteration, and the checks applied to every response.

The check functions are pure (status, headers, body) -> failures, testable without locust. The locust user
class is built by :func:`build_user_class`, which imports locust lazily (see the package docstring).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from foundation.ops.perf.stats import Recorder

RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
CONDITIONAL_EVERY = 3


@dataclass(frozen=True)
class ScenarioSettings:
    base_url: str
    tenant: str
    think_seconds: float
    token: str | None = None


@dataclass
class CheckOutcome:
    passed: int = 0
    failures: list[str] | None = None

    def check(self, ok: bool, failure: str) -> bool:
        if ok:
            self.passed += 1
        else:
            if self.failures is None:
                self.failures = []
            self.failures.append(failure)
        return ok

    @property
    def failed(self) -> int:
        return len(self.failures or [])

    @property
    def message(self) -> str:
        return "; ".join(self.failures or [])


def _json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _problem(outcome: CheckOutcome, status: int, body: bytes | None, expected: str) -> CheckOutcome:
    doc = _json(body)
    title = doc.get("title") if isinstance(doc, dict) else None
    outcome.check(False, f"HTTP {status}{f' {title}' if title else ''} (expected {expected})")
    trace = doc.get("traceId") if isinstance(doc, dict) else None
    outcome.check(isinstance(trace, str) and bool(TRACE_ID.match(trace)), "problem without a valid traceId")
    return outcome


def _rate_limit(outcome: CheckOutcome, headers: Mapping[str, str]) -> None:
    missing = [name for name in RATE_LIMIT_HEADERS if not headers.get(name)]
    outcome.check(not missing, f"missing {', '.join(missing)}")


def check_theme(
    status: int, headers: Mapping[str, str], body: bytes | None, sent_etag: str | None
) -> CheckOutcome:
    """200 (or 304 when conditional) with ETag and RateLimit-*; a 200 to a conditional GET is a failure
    unless the theme changed (different ETag)."""
    outcome = CheckOutcome()
    expected = "304" if sent_etag else "200"
    if status not in (200, 304):
        return _problem(outcome, status, body, expected)
    etag = headers.get("etag")
    outcome.check(bool(etag), f"theme {status} without ETag")
    if sent_etag:
        outcome.check(status == 304 or etag != sent_etag, "conditional GET with a matching ETag returned 200")
    else:
        outcome.check(status == 200, "unconditional GET returned 304")
    _rate_limit(outcome, headers)
    return outcome


def check_tenant_metrics(status: int, headers: Mapping[str, str], body: bytes | None) -> CheckOutcome:
    outcome = CheckOutcome()
    if status != 200:
        return _problem(outcome, status, body, "200")
    doc = _json(body)
    ok = (
        isinstance(doc, dict)
        and isinstance(doc.get("data"), list)
        and isinstance(doc.get("pagination"), dict)
    )
    outcome.check(ok, "body without data[] and pagination")
    _rate_limit(outcome, headers)
    return outcome


def check_stories(status: int, headers: Mapping[str, str], body: bytes | None) -> CheckOutcome:
    outcome = CheckOutcome()
    if status != 200:
        return _problem(outcome, status, body, "200")
    doc = _json(body)
    outcome.check(isinstance(doc, dict) and isinstance(doc.get("data"), list), "body without data[]")
    _rate_limit(outcome, headers)
    return outcome


def check_scaffold(status: int, headers: Mapping[str, str], body: bytes | None) -> CheckOutcome:
    outcome = CheckOutcome()
    if status != 201:
        return _problem(outcome, status, body, "201")
    doc = _json(body)
    outcome.check(isinstance(doc, dict) and bool(doc.get("scaffoldId")), "201 without scaffoldId")
    _rate_limit(outcome, headers)
    return outcome


def scaffold_payload(feature_slug: str) -> dict[str, Any]:
    digest = hashlib.sha256(feature_slug.encode()).hexdigest()
    return {
        "featureSlug": feature_slug,
        "initiatedBy": str(uuid.uuid4()),
        "slices": [
            {
                "slice": "features",
                "files": [{"path": f"src/features/{feature_slug}/index.ts", "checksum": digest}],
            }
        ],
        "lintCommitHash": hashlib.sha1(feature_slug.encode(), usedforsecurity=False).hexdigest(),
        "scReferences": ["@SC-001"],
        "durationMs": random.randint(60_000, 1_800_000),  # noqa: S311  # load data, not a secret
        "metadata": {"source": "foundation-perf-smoke"},
    }


def new_feature_slug() -> str:
    return f"perf-{uuid.uuid4().hex}"


def lower_headers(headers: Any) -> dict[str, str]:
    result: dict[str, str] = {}
    if headers is None:
        return result
    for key, value in headers.items():
        result[str(key).lower()] = value if isinstance(value, str) else ", ".join(map(str, value))
    return result


def request_headers(settings: ScenarioSettings) -> dict[str, str]:
    headers = {"X-Tenant-Id": settings.tenant, "Accept": "application/json"}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    return headers


class SmokeIteration:
    """One virtual user's iteration, mixed into the locust user built by :func:`build_user_class` (which
    supplies ``client``, ``scenario`` and ``recorder``); kept here so it reads without locust's machinery."""

    client: Any
    scenario: ScenarioSettings
    recorder: Recorder

    def on_start(self) -> None:
        self.iteration = 0
        self.theme_etag: str | None = None
        self.base_headers = request_headers(self.scenario)

    def run_iteration(self) -> None:
        self.iteration += 1
        self.theme()
        self.tenant_metrics()
        self.stories()
        self.scaffold()
        self.recorder.iterations += 1

    def _finish(self, response: Any, outcome: CheckOutcome) -> None:
        self.recorder.count_checks(outcome.passed, outcome.failed)
        if outcome.failures:
            response.failure(outcome.message)
        else:
            response.success()

    def theme(self) -> None:
        headers = dict(self.base_headers)
        sent = self.theme_etag if self.iteration % CONDITIONAL_EVERY == 0 else None
        if sent:
            headers["If-None-Match"] = sent
        path = f"/api/v1/tenants/{self.scenario.tenant}/themes/current"
        with self.client.get(path, headers=headers, name="theme", catch_response=True) as response:
            lowered = lower_headers(response.headers)
            outcome = check_theme(response.status_code, lowered, response.content, sent)
            if response.status_code in (200, 304) and lowered.get("etag"):
                self.theme_etag = lowered["etag"]
            self._finish(response, outcome)

    def tenant_metrics(self) -> None:
        path = f"/api/v1/tenant-metrics/{self.scenario.tenant}/sc"
        with self.client.get(
            path, headers=self.base_headers, name="tenant_metrics", catch_response=True
        ) as r:
            self._finish(r, check_tenant_metrics(r.status_code, lower_headers(r.headers), r.content))

    def stories(self) -> None:
        path = "/api/v1/design-system/stories"
        with self.client.get(path, headers=self.base_headers, name="stories", catch_response=True) as r:
            self._finish(r, check_stories(r.status_code, lower_headers(r.headers), r.content))

    def scaffold(self) -> None:
        headers = dict(self.base_headers, **{"Idempotency-Key": str(uuid.uuid4())})
        path = f"/api/v1/tenants/{self.scenario.tenant}/features/scaffold"
        payload = scaffold_payload(new_feature_slug())
        with self.client.post(path, json=payload, headers=headers, name="scaffold", catch_response=True) as r:
            self._finish(r, check_scaffold(r.status_code, lower_headers(r.headers), r.content))


def build_user_class(settings: ScenarioSettings, recorder: Recorder) -> type:
    """A FastHttpUser subclass bound to ``settings``; requests are named after the endpoint keys."""
    from locust import constant, task
    from locust.contrib.fasthttp import FastHttpUser

    bound_recorder = recorder

    class FoundationSmokeUser(SmokeIteration, FastHttpUser):
        host = settings.base_url
        wait_time = constant(settings.think_seconds)
        network_timeout = 30.0
        connection_timeout = 10.0
        scenario = settings
        recorder = bound_recorder

        @task
        def iteration_task(self) -> None:
            self.run_iteration()

    return FoundationSmokeUser
