"""The response checks of the scenario are pure functions: failed checks become request errors."""

from __future__ import annotations

import json

import pytest

from foundation.ops.perf.scenario import (
    check_scaffold,
    check_stories,
    check_tenant_metrics,
    check_theme,
    lower_headers,
    new_feature_slug,
    scaffold_payload,
)

RATE = {"ratelimit-limit": "60", "ratelimit-remaining": "59", "ratelimit-reset": "60"}
ETAG = 'W/"0123456789abcdef0123456789abcdef"'
PAGE = json.dumps({"data": [], "pagination": {"page": 1}}).encode()
PROBLEM = json.dumps({"title": "internal_error", "traceId": "a" * 32}).encode()


@pytest.mark.parametrize(
    ("status", "headers", "sent", "failures"),
    [
        (200, {**RATE, "etag": ETAG}, None, []),
        (304, {**RATE, "etag": ETAG}, ETAG, []),
        (200, {**RATE, "etag": 'W/"other"'}, ETAG, []),  # the theme changed: a 200 is legitimate
        (200, {**RATE, "etag": ETAG}, ETAG, ["conditional GET with a matching ETag returned 200"]),
        (200, dict(RATE), None, ["theme 200 without ETag"]),
        (304, dict(RATE), ETAG, ["theme 304 without ETag"]),
        (200, {"etag": ETAG}, None, ["missing ratelimit-limit, ratelimit-remaining, ratelimit-reset"]),
        (200, {"etag": ETAG, "ratelimit-limit": "1"}, None, ["missing ratelimit-remaining, ratelimit-reset"]),
    ],
)
def test_check_theme(status: int, headers: dict[str, str], sent: str | None, failures: list[str]) -> None:
    outcome = check_theme(status, headers, b"{}", sent)
    assert (outcome.failures or []) == failures


@pytest.mark.parametrize(
    ("body", "failures"),
    [
        (PROBLEM, ["HTTP 500 internal_error (expected 200)"]),
        (
            json.dumps({"title": "internal_error"}).encode(),
            ["HTTP 500 internal_error (expected 200)", "problem without a valid traceId"],
        ),
        (b"<html>oops</html>", ["HTTP 500 (expected 200)", "problem without a valid traceId"]),
        (
            json.dumps({"traceId": "XYZ"}).encode(),
            ["HTTP 500 (expected 200)", "problem without a valid traceId"],
        ),
    ],
)
def test_problem_responses_are_failures(body: bytes, failures: list[str]) -> None:
    assert check_stories(500, {}, body).failures == failures


def test_check_tenant_metrics_requires_pagination() -> None:
    assert check_tenant_metrics(200, RATE, PAGE).failures is None
    assert check_tenant_metrics(200, RATE, b'{"data": []}').failures == ["body without data[] and pagination"]
    assert check_tenant_metrics(429, RATE, PROBLEM).failed == 1


def test_check_scaffold_expects_201() -> None:
    assert check_scaffold(201, RATE, b'{"scaffoldId": "x"}').failures is None
    assert check_scaffold(200, RATE, b'{"scaffoldId": "x"}').failures == [
        "HTTP 200 (expected 201)",
        "problem without a valid traceId",
    ]
    assert check_scaffold(201, {}, b'{"scaffoldId": "x"}').failed == 1


def test_scaffold_payload_is_valid_and_unique() -> None:
    slugs = {new_feature_slug() for _ in range(100)}
    assert len(slugs) == 100
    slug = slugs.pop()
    payload = scaffold_payload(slug)
    assert len(slug) <= 64 and slug.replace("-", "").isalnum() and slug == slug.lower()
    assert payload["featureSlug"] == slug
    assert len(payload["lintCommitHash"]) == 40
    assert len(payload["slices"][0]["files"][0]["checksum"]) == 64
    assert payload["scReferences"] == ["@SC-001"]
    assert 0 <= payload["durationMs"] <= 86_400_000


def test_lower_headers_handles_lists_and_none() -> None:
    assert lower_headers(None) == {}
    assert lower_headers({"ETag": "a", "X-Multi": ["1", "2"]}) == {"etag": "a", "x-multi": "1, 2"}
