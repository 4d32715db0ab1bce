"""The two writes of an ingestion, over HTTP: ``PUT /api/v1/design-system/stories`` and
``POST /api/v1/tenant-metrics/{tenant}/sc``, in batches of at most 500 items (each request is atomic:
all of its items are written or none).

Nothing is sent before everything was validated (the parsers) and the API answered ``GET /health``, so an
unreachable API or a refused token leaves nothing written. A failure after some batches were written stops
there and says what was written; every write is idempotent (samples are de-duplicated by the API, stories
are upserts), so running the same command again completes the job without duplicates.

For the same reason every request is retried on a transient failure (refused or dropped connection, a
timeout, 429, 500, 502, 503, 504) within a time budget, ``FOUNDATION_INGEST_RETRY_SECONDS`` (30 s; 0 sends
once), honouring ``Retry-After``: the rule of ``foundation.client.retrying``, shared with the scaffolding
client. Each retry is told to ``on_retry`` as one line; a budget spent is an ApiError saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from foundation.client.retrying import Unconfirmed, send

BATCH = 500
STORIES_PATH = "/api/v1/design-system/stories"
RETRY_ENV = "FOUNDATION_INGEST_RETRY_SECONDS"
BUDGET_SETTING = f"--retry-seconds, {RETRY_ENV}"  # how the CLI sets it, named in its error lines
DEFAULT_RETRY_SECONDS = 30.0


class ApiError(Exception):
    """The API could not be reached or refused a request; ``written`` says what had been written before."""

    def __init__(self, message: str, written: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.written = dict(written or {})


@dataclass
class Written:
    accepted: int = 0
    duplicates: int = 0
    upserted: int = 0
    requests: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": {"accepted": self.accepted, "duplicates": self.duplicates},
            "stories": {"upserted": self.upserted},
            "requests": list(self.requests),
        }


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text.strip()[:200]}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    text = f"HTTP {response.status_code} {body.get('title', '')}: {body.get('detail', '')}".rstrip(": ")
    violations = body.get("violations")
    if isinstance(violations, list) and violations:
        text += (
            " ("
            + "; ".join(
                f"{v.get('field')}: {v.get('message')}" for v in violations[:3] if isinstance(v, dict)
            )
            + ")"
        )
    return text


class Api:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "foundation-metrics-ingest"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.retry_seconds = retry_seconds
        self.on_retry = on_retry
        self.written = Written()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer of a request retried by the shared rule; ApiError when it is not a success."""

        def retrying(reason: str, pause: float) -> None:
            if self.on_retry is not None:
                self.on_retry(f"retrying {method} {path} in {pause:.1f} s ({reason})")

        try:
            response, attempts = send(
                lambda: self.client.request(method, path, **kwargs),
                budget=self.retry_seconds,
                on_retry=retrying,
            )
        except Unconfirmed as exc:
            raise ApiError(self._gave_up(method, path, exc), self.written.as_dict()) from None
        if not response.is_success:
            after = f" (after {attempts} attempts)" if attempts > 1 else ""
            raise ApiError(f"{method} {path}: {_problem(response)}{after}", self.written.as_dict())
        return response

    def _gave_up(self, method: str, path: str, exc: Unconfirmed) -> str:
        if exc.response is not None:
            what = f"{method} {path}: {_problem(exc.response)}"
        elif isinstance(exc.error, httpx.TimeoutException):
            what = f"{method} {self.base_url}{path}: no answer within the timeout"
        else:
            what = f"API unreachable at {self.base_url}: {exc.reason}"
        attempts = f"{exc.attempts} attempt{'s' if exc.attempts != 1 else ''}"
        if self.retry_seconds <= 0:
            why = f"retries are off ({BUDGET_SETTING} is 0)"
        elif exc.from_retry_after:
            why = (
                f"its Retry-After of {round(exc.pause, 1):g} s is longer than the {exc.left:.1f} s left of "
                f"the {self.retry_seconds:g} s retry budget ({BUDGET_SETTING})"
            )
        else:
            why = f"the {self.retry_seconds:g} s retry budget ({BUDGET_SETTING}) is spent"
        return f"{what}; gave up after {attempts}: {why}"

    def check_reachable(self) -> None:
        """``GET /health`` (no token needed): an unreachable API fails here, before any write."""
        self._send("GET", "/health")

    def put_stories(self, tenant: str, stories: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(stories), BATCH):
            batch = list(stories[start : start + BATCH])
            response = self._send(
                "PUT", STORIES_PATH, json={"stories": batch}, headers={"X-Tenant-Id": tenant}
            )
            self.written.upserted += int(response.json().get("upserted", 0))
            self.written.requests.append(f"PUT {STORIES_PATH} ({len(batch)} stories)")

    def post_samples(self, tenant: str, samples: Sequence[dict[str, Any]]) -> None:
        path = f"/api/v1/tenant-metrics/{tenant}/sc"
        for start in range(0, len(samples), BATCH):
            batch = list(samples[start : start + BATCH])
            response = self._send("POST", path, json={"samples": batch}, headers={"X-Tenant-Id": tenant})
            body = response.json()
            self.written.accepted += int(body.get("accepted", 0))
            self.written.duplicates += int(body.get("duplicates", 0))
            self.written.requests.append(f"POST {path} ({len(batch)} samples)")
