"""The one retry rule of the clients that talk to the Foundation API (scaffolding, report ingestion).

A request is sent again when it failed in transit (any ``httpx.HTTPError``: refused connection, reset,
timeout) or was answered 429, 500, 502, 503 or 504; every other answer is final at once. Between attempts
the client waits an exponential backoff with jitter (0.25 s doubling up to 5 s, each pause a random 50–100 %
of it), or the answer's ``Retry-After`` (seconds or an HTTP date) when that is longer: a ``Retry-After: 0``
still waits the backoff. All of it
fits in a time budget counted from the first attempt: when the next pause does not fit in what is left (a
``Retry-After`` longer than that ends the attempts at once, without waiting), the request is
:class:`Unconfirmed`. A budget of 0 sends once.

Only requests that are safe to repeat go through here: the scaffolding client's writes carry an
``Idempotency-Key``, the ingestion's are idempotent by design (samples are de-duplicated, stories upserted).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
FIRST_DELAY = 0.25
MAX_DELAY = 5.0

# Told before each pause: why the attempt failed ("HTTP 503", "ConnectError: …") and the pause in seconds.
OnRetry = Callable[[str, float], None]


@dataclass
class Unconfirmed(Exception):
    """No final answer within the retry budget: the request may or may not have been applied."""

    reason: str
    attempts: int = 0
    last_status: int | None = None
    # The last attempt's answer (a retried status) or transport error, whichever it was.
    response: httpx.Response | None = field(default=None, repr=False, compare=False)
    error: httpx.HTTPError | None = field(default=None, repr=False, compare=False)
    # The pause that did not fit, whether it was the answer's Retry-After, and what was left of the budget.
    pause: float = 0.0
    from_retry_after: bool = False
    left: float = 0.0


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds from now (delay-seconds or an HTTP date; a past date is 0), None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def send(
    attempt: Callable[[], httpx.Response], *, budget: float, on_retry: OnRetry | None = None
) -> tuple[httpx.Response, int]:
    """The first final answer of ``attempt()`` and how many attempts it took; Unconfirmed when the budget
    (seconds) ran out on retried failures."""
    deadline = time.monotonic() + budget
    attempts, delay = 0, FIRST_DELAY
    while True:
        attempts += 1
        response: httpx.Response | None = None
        error: httpx.HTTPError | None = None
        try:
            response = attempt()
        except httpx.HTTPError as exc:
            error, reason, wait, status = exc, f"{type(exc).__name__}: {exc}", None, None
        else:
            if response.status_code not in RETRIED_STATUSES:
                return response, attempts
            status = response.status_code
            reason = f"HTTP {status}"
            wait = retry_after(response.headers.get("Retry-After"))
        backoff = delay * random.uniform(0.5, 1.0)  # noqa: S311  # backoff jitter, not a secret
        # Retry-After is a floor: "0" or a past date must not turn the loop into a burst of requests.
        pause = backoff if wait is None else max(wait, backoff)
        left = deadline - time.monotonic()
        if pause > left:
            raise Unconfirmed(
                reason, attempts, status, response, error, pause, wait is not None, max(0.0, left)
            )
        if on_retry is not None:
            on_retry(reason, pause)
        time.sleep(pause)  # backoff between attempts of a bounded retry loop
        delay = min(delay * 2, MAX_DELAY)
