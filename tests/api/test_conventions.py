"""Cross-cutting conventions of api.md §1: Problem Details, trace ids, media types, headers, limits."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from foundation.themes import service as theme_service
from tests.api.helpers import (
    ALFA,
    JSON_CT,
    RFC3339_Z,
    STORIES,
    THEME_PATH,
    assert_problem,
    assert_security_headers,
    metrics_path,
    register,
    scaffold_body,
    scaffold_headers,
    scaffold_path,
    theme_path,
)

ALFA_HDR = {"X-Tenant-Id": "tenant-alfa"}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_unknown_route_is_a_not_found_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    body = assert_problem(response, 404, "not_found")
    assert body["type"] == "https://iabank.local/problems/foundation/not-found"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("method", ["TRACE", "DELETE", "PATCH", "FOO"])
async def test_unsupported_methods_are_405_with_allow(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, THEME_PATH, headers=ALFA_HDR)
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in [m.strip() for m in response.headers["allow"].split(",")]


async def test_trace_on_collection_lists_supported_methods(client: httpx.AsyncClient) -> None:
    response = await client.request("TRACE", STORIES)
    assert_problem(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "PUT"} <= allowed


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        scaffold_path(),
        content=b"{not json",
        headers={**scaffold_headers(), "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "invalid_request")


async def test_body_that_is_not_an_object_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(scaffold_path(), json=[1, 2], headers=scaffold_headers())
    assert_problem(response, 400, "invalid_request")


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = scaffold_body(metadata={"blob": "x" * (1024 * 1024 + 10)})
    response = await client.post(scaffold_path(), json=body, headers=scaffold_headers())
    assert_problem(response, 413, "payload_too_large")


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b" " * (64 * 1024)

    response = await client.post(
        scaffold_path(), content=chunks(), headers={**scaffold_headers(), "Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_non_json_body_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        scaffold_path(),
        content=json.dumps(scaffold_body()),
        headers={**scaffold_headers(), "Content-Type": "text/plain"},
    )
    assert_problem(response, 415, "unsupported_media_type")


async def test_huge_headers_are_431(client: httpx.AsyncClient) -> None:
    response = await client.get(THEME_PATH, headers={**ALFA_HDR, "X-Filler": "y" * 20_000})
    assert_problem(response, 431, "request_header_fields_too_large")


async def test_deeply_nested_json_is_400_not_500(client: httpx.AsyncClient) -> None:
    content = b'{"metadata":' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = await client.post(
        scaffold_path(), content=content, headers={**scaffold_headers(), "Content-Type": "application/json"}
    )
    assert_problem(response, 400, "invalid_request")


async def test_bad_uuid_like_tenant_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/tenants/not-a-uuid!/themes/current", headers=ALFA_HDR)
    assert_problem(response, 404, "tenant_not_found")


async def test_trace_id_follows_valid_traceparent(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/tenants/nobody/themes/current",
        headers={"X-Tenant-Id": "nobody", "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
    )
    body = assert_problem(response, 404, "tenant_not_found")
    assert body["traceId"] == TRACE


async def test_trace_id_follows_traceparent_on_guard_rejections(client: httpx.AsyncClient) -> None:
    response = await client.post(
        scaffold_path(),
        content=b"x",
        headers={
            **scaffold_headers(),
            "Content-Type": "text/plain",
            "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
        },
    )
    assert assert_problem(response, 415, "unsupported_media_type")["traceId"] == TRACE


@pytest.mark.parametrize(
    "traceparent",
    ["garbage", f"00-{TRACE}-00f067aa0ba902b7", f"00-{'0' * 32}-00f067aa0ba902b7-01", f"zz-{TRACE}-xx-01"],
)
async def test_malformed_traceparent_is_ignored(client: httpx.AsyncClient, traceparent: str) -> None:
    ok = await client.get(THEME_PATH, headers={**ALFA_HDR, "traceparent": traceparent})
    assert ok.status_code == 200
    response = await client.get(
        "/api/v1/tenants/nobody/themes/current", headers={"X-Tenant-Id": "x", "traceparent": traceparent}
    )
    body = assert_problem(response, 404, "tenant_not_found")
    assert body["traceId"] != "0" * 32


async def test_json_media_type_has_charset(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get(THEME_PATH, headers=ALFA_HDR),
        await client.get(metrics_path(), headers=ALFA_HDR),
        await client.get(STORIES),
        await client.get("/health"),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == JSON_CT


async def test_security_headers_everywhere(client: httpx.AsyncClient) -> None:
    ok = await client.get(THEME_PATH, headers=ALFA_HDR)
    not_modified = await client.get(THEME_PATH, headers={**ALFA_HDR, "If-None-Match": ok.headers["etag"]})
    problem = await client.get(THEME_PATH)
    unknown = await client.get("/nowhere")
    created = await register(client)
    for response in (ok, not_modified, problem, unknown, created, await client.get("/health")):
        assert_security_headers(response)
    assert not_modified.status_code == 304


async def test_cache_control(client: httpx.AsyncClient) -> None:
    theme = await client.get(THEME_PATH, headers=ALFA_HDR)
    assert theme.headers["cache-control"] == "private, no-cache"
    stories = await client.get(STORIES)
    assert stories.headers["cache-control"] == "private, no-cache"
    not_modified = await client.get(THEME_PATH, headers={**ALFA_HDR, "If-None-Match": theme.headers["etag"]})
    assert not_modified.headers["cache-control"] == "private, no-cache"
    for response in (
        await client.get(metrics_path(), headers=ALFA_HDR),
        await client.get("/health"),
        await register(client),
        await client.get(THEME_PATH),
    ):
        assert response.headers["cache-control"] == "no-store"


async def test_datetimes_are_rfc3339_utc_z(client: httpx.AsyncClient) -> None:
    theme = (await client.get(THEME_PATH, headers=ALFA_HDR)).json()
    assert RFC3339_Z.match(theme["generatedAt"])
    created = (await register(client, durationMs=60_000)).json()
    assert RFC3339_Z.match(created["recordedAt"])
    assert RFC3339_Z.match(created["metrics"][0]["collectedAt"])
    await client.post(
        metrics_path(),
        headers=ALFA_HDR,
        json={
            "samples": [
                {"code": "SC-002", "value": 1, "collectedAt": "2026-01-01T12:00:00+02:00", "source": "manual"}
            ]
        },
    )
    listed = (await client.get(metrics_path(), headers=ALFA_HDR, params={"code": "SC-002"})).json()["data"]
    assert listed[0]["collectedAt"] == "2026-01-01T10:00:00.000Z"
    await client.put(
        STORIES,
        json={
            "stories": [
                {
                    "tenantId": None,
                    "componentId": "c",
                    "storyId": "s",
                    "tags": [],
                    "coveragePercent": 1,
                    "axeStatus": "pass",
                    "chromaticBuild": "b",
                    "storybookUrl": "https://x.example/s",
                }
            ]
        },
    )
    for item in (await client.get(STORIES)).json()["data"]:
        assert RFC3339_Z.match(item["updatedAt"])


async def test_unhandled_error_is_500_without_leaks(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM settings WHERE password='hunter2'")

    monkeypatch.setattr(theme_service.ThemeService, "current", boom)
    response = await client.get(THEME_PATH, headers=ALFA_HDR)
    body = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text and "SELECT" not in response.text
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert set(body) == {"type", "title", "status", "detail", "instance", "traceId"}


async def test_database_gone_gives_503(
    make_client: Callable[..., httpx.AsyncClient], tmp_path: object
) -> None:
    url = "sqlite+aiosqlite:////nonexistent-foundation-dir/sub/foundation.db"
    async with make_client(database_url=url) as http:
        assert (await http.get("/health")).status_code == 200
        ready = await http.get("/health/ready")
        assert_problem(ready, 503, "service_unavailable")
        for response in (
            await http.get(THEME_PATH, headers=ALFA_HDR),
            await http.get(metrics_path(), headers=ALFA_HDR),
            await http.get(STORIES),
            await register(http),
            await http.put(theme_path(), headers=ALFA_HDR, json={"categories": {}}),
        ):
            body = assert_problem(response, 503, "service_unavailable")
            assert "nonexistent" not in json.dumps(body)
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200


async def test_problem_instance_is_path_without_query(client: httpx.AsyncClient) -> None:
    response = await client.get(metrics_path(), headers=ALFA_HDR, params={"page": "x"})
    body = assert_problem(response, 400, "invalid_pagination")
    assert body["instance"] == f"/api/v1/tenant-metrics/{ALFA}/sc"


WRITES = [
    ("POST", scaffold_path(), scaffold_headers()),
    ("PUT", theme_path(ALFA, "9.9.9"), ALFA_HDR),
    ("POST", metrics_path(), ALFA_HDR),
    ("PUT", STORIES, ALFA_HDR),
]


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe{}", b'{"featureSlug": "\xc3\x28"}', b"{not json", b"[1, 2", b""],
    ids=["not utf-8", "invalid utf-8 inside a string", "not json", "truncated", "empty"],
)
@pytest.mark.parametrize(("method", "path", "headers"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
async def test_an_undecodable_body_is_invalid_request(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], content: bytes
) -> None:
    response = await client.request(
        method, path, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    body = assert_problem(response, 400, "invalid_request", fields=["body"])
    assert "\\x" not in body["detail"] and "b'" not in body["detail"]
