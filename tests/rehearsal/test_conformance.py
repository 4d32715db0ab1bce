"""The contract through the load balancer: a representative set of the HTTP suite's checks against HAProxy's
URL, where consecutive requests land on different instances.

The stateless checks of tests/api are reused as they are (imported below; the ``client`` fixture of this
directory points them at the balancer). The checks that need a fresh database in tests/api are restated here
on a tenant of the rehearsal's own, so that the shared database of the fleet does not change their answers:
scaffold registration (201, 200 replay, 409, 422, 400), theme publication, tenant metrics, stories,
pagination. A read that follows a write goes through the balancer to any instance, so none of them reads a
page any instance has cached before the write (that staleness is what test_shared_state.py measures).
"""

from __future__ import annotations

import uuid

import httpx

from foundation.ops.rehearsal.fleet import Fleet
from foundation.seed import demo_theme
from tests.api.helpers import (
    JSON_CT,
    RFC3339_Z,
    STORIES,
    WEAK_ETAG,
    assert_problem,
    assert_ratelimit_headers,
    assert_security_headers,
    metrics_path,
    sample,
    scaffold_body,
    scaffold_path,
    story,
    theme_path,
)
from tests.api.test_conventions import (  # noqa: F401  (collected here, against the balancer)
    test_bad_uuid_like_tenant_is_404,
    test_body_that_is_not_an_object_is_400,
    test_cache_control,
    test_deeply_nested_json_is_400_not_500,
    test_huge_headers_are_431,
    test_json_media_type_has_charset,
    test_malformed_json_is_400,
    test_malformed_traceparent_is_ignored,
    test_non_json_body_is_415,
    test_oversized_body_is_413,
    test_oversized_chunked_body_is_413,
    test_problem_instance_is_path_without_query,
    test_security_headers_everywhere,
    test_trace_id_follows_traceparent_on_guard_rejections,
    test_trace_id_follows_valid_traceparent,
    test_trace_on_collection_lists_supported_methods,
    test_unknown_route_is_a_not_found_problem,
    test_unsupported_methods_are_405_with_allow,
)
from tests.api.test_health import test_health, test_ready  # noqa: F401


def post_scaffold(
    client: httpx.Client, tenant: str, body: dict[str, object], key: str | None
) -> httpx.Response:
    headers = {"X-Tenant-Id": tenant}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(scaffold_path(tenant), json=body, headers=headers)


def test_scaffold_registration_201_replay_409_422_400(fleet: Fleet, tenants: list[str]) -> None:
    tenant = tenants[0]
    with httpx.Client(base_url=fleet.url, timeout=60) as client:
        created = post_scaffold(client, tenant, scaffold_body("card-simulator", durationMs=120_000), "k-1")
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["tenantId"] == tenant and body["featureSlug"] == "card-simulator"
        assert RFC3339_Z.match(body["recordedAt"])
        assert body["metrics"][0]["code"] == "SC-001" and body["metrics"][0]["value"] == 2
        assert created.headers["location"] == f"/api/v1/tenants/{tenant}/features/scaffold/card-simulator"
        assert created.headers["idempotency-key"] == "k-1"
        assert WEAK_ETAG.match(created.headers["etag"])
        assert created.headers["content-type"] == JSON_CT
        assert_security_headers(created)
        assert_ratelimit_headers(created)

        # The same key and payload from any instance: the stored answer, not a second registration.
        for _ in range(3):
            replay = post_scaffold(client, tenant, scaffold_body("card-simulator", durationMs=120_000), "k-1")
            assert replay.status_code == 200, replay.text
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json() == body and replay.headers["etag"] == created.headers["etag"]

        conflict = post_scaffold(client, tenant, scaffold_body("card-simulator"), "k-2")
        assert_problem(conflict, 409, "feature_already_registered")
        assert conflict.headers["location"] == created.headers["location"]
        mismatch = post_scaffold(client, tenant, scaffold_body("other-feature"), "k-1")
        assert_problem(mismatch, 422, "idempotency_payload_mismatch")
        assert_problem(
            post_scaffold(client, tenant, scaffold_body("x"), None), 400, "idempotency_key_required"
        )
        invalid = post_scaffold(client, tenant, scaffold_body("Bad Slug", lintCommitHash="nope"), "k-3")
        assert_problem(invalid, 400, "invalid_request", fields=["featureSlug", "lintCommitHash"])

        read = client.get(created.headers["location"], headers={"X-Tenant-Id": tenant})
        assert read.status_code == 200 and read.json() == body
        assert read.headers["etag"] == created.headers["etag"]
        not_modified = client.get(
            created.headers["location"],
            headers={"X-Tenant-Id": tenant, "If-None-Match": read.headers["etag"]},
        )
        assert not_modified.status_code == 304 and not_modified.content == b""


def test_theme_publication_and_current_theme(fleet: Fleet, tenants: list[str]) -> None:
    tenant = tenants[1]
    headers = {"X-Tenant-Id": tenant}
    theme = {"categories": demo_theme("#1E3A8A"), "makeCurrent": True}
    with httpx.Client(base_url=fleet.url, timeout=60) as client:
        first = client.put(theme_path(tenant, "2.0.0"), headers=headers, json=theme)
        assert first.status_code == 201, first.text
        again = client.put(theme_path(tenant, "2.0.0"), headers=headers, json=theme)
        assert again.status_code == 200 and again.json() == first.json()
        other = {"categories": demo_theme("#14532D")}
        assert_problem(
            client.put(theme_path(tenant, "2.0.0"), headers=headers, json=other),
            409,
            "theme_version_conflict",
        )
        assert_problem(
            client.put(theme_path(tenant, "2.x"), headers=headers, json=theme), 400, "invalid_request"
        )

        current = client.get(f"/api/v1/tenants/{tenant}/themes/current", headers=headers)
        assert current.status_code == 200
        document = current.json()
        assert document["version"] == "2.0.0" and document["tenantId"] == tenant
        assert set(document["categories"]) == {"foundation", "semantic", "component"}
        assert document["wcagReport"]["status"] == "pass"
        assert current.headers["cache-control"] == "private, no-cache"
        for _ in range(3):  # the ETag is the same whichever instance answers
            cached = client.get(
                f"/api/v1/tenants/{tenant}/themes/current",
                headers={**headers, "If-None-Match": current.headers["etag"]},
            )
            assert cached.status_code == 304 and cached.headers["etag"] == current.headers["etag"]
        assert_problem(
            client.get(f"/api/v1/tenants/{tenant}/themes/current", headers={"X-Tenant-Id": tenants[2]}),
            400,
            "tenant_header_mismatch",
        )
        assert_problem(
            client.get(
                "/api/v1/tenants/no-such-tenant/themes/current", headers={"X-Tenant-Id": "no-such-tenant"}
            ),
            404,
            "tenant_not_found",
        )


def test_tenant_metrics_ingestion_listing_and_pagination(fleet: Fleet, tenants: list[str]) -> None:
    tenant = tenants[2]
    headers = {"X-Tenant-Id": tenant}
    samples = [sample("SC-003", i / 10, f"2026-02-01T10:{i:02d}:00Z", "lighthouse") for i in range(12)]
    with httpx.Client(base_url=fleet.url, timeout=60) as client:
        ingested = client.post(metrics_path(tenant), headers=headers, json={"samples": samples})
        assert ingested.status_code == 201, ingested.text
        assert ingested.json() == {"accepted": 12, "duplicates": 0}
        repeated = client.post(metrics_path(tenant), headers=headers, json={"samples": samples[:5]})
        assert repeated.json() == {"accepted": 0, "duplicates": 5}

        page = client.get(
            metrics_path(tenant), headers=headers, params={"code": "SC-003", "per_page": 5, "page": 2}
        )
        assert page.status_code == 200 and page.headers["content-type"] == JSON_CT
        listed = page.json()
        assert listed["pagination"] == {"page": 2, "perPage": 5, "totalItems": 12, "totalPages": 3}
        assert [item["collectedAt"] for item in listed["data"]] == [
            f"2026-02-01T10:{minute:02d}:00.000Z" for minute in (6, 5, 4, 3, 2)
        ]  # newest first
        past = client.get(metrics_path(tenant), headers=headers, params={"code": "SC-003", "page": 10**9})
        assert past.status_code == 200 and past.json()["data"] == []
        assert_problem(
            client.get(metrics_path(tenant), headers=headers, params={"page_size": 0}),
            400,
            "invalid_pagination",
            fields=["page_size"],
        )
        assert_problem(
            client.get(metrics_path(tenant), headers=headers, params={"page_size": 5, "per_page": 6}),
            400,
            "invalid_pagination",
        )


def test_stories_upsert_filters_and_conditional_get(fleet: Fleet, tenants: list[str]) -> None:
    tenant = tenants[3]
    headers = {"X-Tenant-Id": tenant}
    marker = uuid.uuid4().hex[:8]
    items = [story("rehearsal-card", f"card--{marker}-{i}", tenant, tags=["core", marker]) for i in range(3)]
    with httpx.Client(base_url=fleet.url, timeout=60) as client:
        upserted = client.put(STORIES, headers=headers, json={"stories": items})
        assert upserted.status_code == 200 and upserted.json() == {"upserted": 3}
        listed = client.get(STORIES, headers=headers, params={"tag": marker})
        assert listed.status_code == 200
        data = listed.json()["data"]
        assert {item["storyId"] for item in data} == {f"card--{marker}-{i}" for i in range(3)}
        assert all(item["tenantId"] == tenant and RFC3339_Z.match(item["updatedAt"]) for item in data)
        etag = listed.headers["etag"]
        assert WEAK_ETAG.match(etag)
        for _ in range(3):
            again = client.get(STORIES, headers={**headers, "If-None-Match": etag}, params={"tag": marker})
            assert again.status_code == 304 and again.headers["etag"] == etag
        # Another tenant never sees them, whichever instance answers.
        foreign = client.get(STORIES, headers={"X-Tenant-Id": tenants[4]}, params={"tag": marker})
        assert foreign.status_code == 200 and foreign.json()["data"] == []
        refused = client.put(STORIES, headers=headers, json={"stories": [story(tenant=tenants[4])]})
        assert_problem(refused, 400, "invalid_request", fields=["stories[0].tenantId"])
