"""The two writes of an ingestion, over HTTP: ``PUT /api/v1/design-system/stories`` and
``POST /api/v1/tenant-metrics/{tenant}/sc``, in batches of at most 500 items (each request is atomic:
all of its items are written or none).

Nothing is sent before everything was validated (the parsers) and the API answered ``GET /health``, so an
unreachable API or a refused token leaves nothing written. A failure after some batches were written stops
there and says what was written; every write is idempotent (samples are de-duplicated by the API, stories
are upserts), so running the same command again completes the job without duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

BATCH = 500
STORIES_PATH = "/api/v1/design-system/stories"


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
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "foundation-metrics-ingest"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.written = Written()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ApiError(
                f"{method} {self.base_url}{path}: no answer within the timeout", self.written.as_dict()
            ) from None
        except httpx.HTTPError as exc:
            raise ApiError(
                f"API unreachable at {self.base_url}: {type(exc).__name__}: {exc}", self.written.as_dict()
            ) from None
        if not response.is_success:
            raise ApiError(f"{method} {path}: {_problem(response)}", self.written.as_dict())
        return response

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
