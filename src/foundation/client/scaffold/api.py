"""The Foundation API over HTTP: bounded retries with backoff that honour ``Retry-After``, Problem Details.

Connection errors, 5xx and 429 are retried with exponential backoff (with jitter) until a time budget is
spent; a ``Retry-After`` longer than what is left ends the attempts at once. Every other answer is final.
The rule lives in ``foundation.client.retrying`` (shared with the report ingestion). Requests that change
something carry an ``Idempotency-Key``, so a retry of one that did reach the server is answered as a replay.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from foundation.client.retrying import Unconfirmed, send
from foundation.client.scaffold import errors

DEFAULT_API = "http://127.0.0.1:8000"
RETRY_BUDGET_ENV = "FOUNDATION_SCAFFOLD_RETRY_SECONDS"
DEFAULT_RETRY_BUDGET = 20.0

__all__ = ["DEFAULT_API", "Answer", "Api", "Unconfirmed", "api_url", "final_error", "retry_budget"]


def api_url(explicit: str | None) -> str:
    return (explicit or os.environ.get("FOUNDATION_API_URL") or DEFAULT_API).rstrip("/")


def retry_budget() -> float:
    raw = os.environ.get(RETRY_BUDGET_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_RETRY_BUDGET
    except ValueError:
        raise errors.ScaffoldError(errors.USAGE, f"{RETRY_BUDGET_ENV} must be a number of seconds") from None


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]
    attempts: int

    @property
    def problem(self) -> dict[str, Any] | None:
        return self.body if self.status >= 400 and isinstance(self.body, dict) else None


@dataclass
class Api:
    base_url: str
    token: str | None = None
    timeout: float = 10.0
    budget: float = DEFAULT_RETRY_BUDGET
    on_retry: Callable[[str, float], None] | None = None
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> Api:
        headers = {"User-Agent": "foundation-scaffold", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        budget: float | None = None,
    ) -> Answer:
        """The first final answer; Unconfirmed when the budget ran out on retried failures."""
        if self._client is None:
            raise RuntimeError("use Api as a context manager")
        client = self._client
        response, attempts = send(
            lambda: client.request(method, path, headers=headers, json=json, params=params),
            budget=self.budget if budget is None else budget,
            on_retry=self.on_retry,
        )
        return Answer(response.status_code, _body(response), response.headers, attempts)


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def final_error(answer: Answer, what: str) -> errors.ScaffoldError:
    """The exit code and message for a final answer that is not a success."""
    problem = answer.problem or {}
    title = problem.get("title") or f"HTTP {answer.status}"
    detail = problem.get("detail") or (answer.body if isinstance(answer.body, str) else "")
    message = f"{what}: {answer.status} {title}" + (f": {detail}" if detail else "")
    if answer.status in (409, 422):
        code = errors.CONFLICT
    elif answer.status == 400:
        code = errors.USAGE
    else:
        code = errors.SERVER
    return errors.ScaffoldError(code, message, answer.problem)
