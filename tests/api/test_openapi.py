"""The served OpenAPI 3.1 document, and a schemathesis run of it against the app."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from foundation.app import create_app
from foundation.settings import Settings
from foundation.success_metrics.schemas import RFC3339
from tests.conftest import fuzz_examples

ROUTES: dict[tuple[str, str], set[str]] = {
    ("get", "/health"): {"200"},
    ("get", "/health/ready"): {"200", "503"},
    ("post", "/api/v1/tenants/{tenantId}/features/scaffold"): {
        "201",
        "200",
        "304",
        "400",
        "404",
        "409",
        "412",
        "413",
        "415",
        "422",
        "429",
        "500",
        "503",
    },
    ("get", "/api/v1/tenants/{tenantId}/features/scaffold/{featureSlug}"): {
        "200",
        "304",
        "400",
        "404",
        "429",
    },
    ("get", "/api/v1/tenants/{tenantId}/themes/current"): {"200", "304", "400", "404", "429"},
    ("put", "/api/v1/tenants/{tenantId}/themes/{version}"): {"201", "200", "400", "404", "409", "413", "429"},
    ("get", "/api/v1/tenant-metrics/{tenantId}/sc"): {"200", "400", "404", "429"},
    ("post", "/api/v1/tenant-metrics/{tenantId}/sc"): {"201", "400", "404", "413", "429"},
    ("get", "/api/v1/design-system/stories"): {"200", "304", "400", "404", "429"},
    ("put", "/api/v1/design-system/stories"): {"200", "400", "404", "413", "429"},
}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()  # type: ignore[no-any-return]


async def test_openapi_version_and_routes(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert "/metrics" not in document["paths"]
    for (method, path), statuses in ROUTES.items():
        operation = document["paths"][path][method]
        assert statuses <= set(operation["responses"]), (method, path, statuses - set(operation["responses"]))


async def test_problem_schema_and_content_types(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["ProblemDetails"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance", "traceId"}
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response.get("content", {})) == ["application/problem+json"], (
                        status,
                        response,
                    )


async def test_no_uri_format_for_instance_or_location(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert '"format": "uri"' not in text.replace('"format":"uri"', '"format": "uri"')
    assert "HTTPValidationError" not in text


async def test_headers_documented(document: dict[str, Any]) -> None:
    post = document["paths"]["/api/v1/tenants/{tenantId}/features/scaffold"]["post"]
    assert {"Location", "ETag", "Idempotency-Key", "RateLimit-Limit"} <= set(
        post["responses"]["201"]["headers"]
    )
    assert "Idempotent-Replayed" in post["responses"]["200"]["headers"]
    assert "Retry-After" in post["responses"]["429"]["headers"]
    assert "Location" in post["responses"]["409"]["headers"]
    parameters = {p["name"] for p in post["parameters"]}
    assert {"tenantId", "X-Tenant-Id", "Idempotency-Key", "If-None-Match"} <= parameters


# --- schemathesis ---------------------------------------------------------------------------------------


# The document does not depend on the database, so it is loaded once at import from a throw-away app; every
# example is then sent to this test's app (fresh, migrated and seeded database; rate limits off).
def _document_app() -> Any:
    """An app on an empty in-memory database, only asked for its OpenAPI document: no background scorecard
    refresh (it would log a failed query on the unmigrated database)."""
    return create_app(
        Settings(
            database_url="sqlite+aiosqlite:///:memory:", tracing_enabled=False, metrics_scorecard_seconds=0
        )
    )


schema = schemathesis.openapi.from_asgi("/openapi.json", _document_app())
# The API refuses U+0000 in every string with a 400 (documented in the OpenAPI description; no database text
# type can store it); that rule is tested in test_nul_characters.py, so generated strings leave NUL out.
schema.config.generation.update(allow_x00=False)


def _page_size(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= 100 and str(number) == str(value) else None


@schema.hook("map_query")
def same_page_size_and_alias(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    """`page_size` and its alias `per_page` must agree (an inter-parameter rule OpenAPI cannot express):
    when both are valid, give the alias the same value; invalid combinations stay as generated."""
    if query and _page_size(query.get("page_size")) and _page_size(query.get("per_page")):
        return {**query, "per_page": query["page_size"]}
    return query


@schema.hook("map_case")
def header_names_the_path_tenant(context: Any, case: Any) -> Any:
    """X-Tenant-Id must name the path's tenant (api.md; a 400 otherwise), a rule between two parameters that
    OpenAPI cannot express: when both are schema-valid, the path takes the header's value. Without this a
    generated path that happens to name a seeded tenant (say ``tenant-default``) with any other header is a
    valid-looking request the API rightly refuses, and the run fails by chance."""
    path = case.path_parameters or {}
    headers = case.headers or {}
    tenant, header = path.get("tenantId"), headers.get("X-Tenant-Id")
    if isinstance(tenant, str) and tenant and isinstance(header, str) and header:
        case.path_parameters = {**path, "tenantId": header}
    return case


def _current_started_at(body: Any) -> Any:
    """A schema-valid ``startedAt`` must also lie within the server's clock window (at most 5 minutes ahead,
    24 hours behind: api.md §3), a rule OpenAPI cannot express; schema-valid values become the current time
    (negative examples keep their invalid ones)."""
    value = body.get("startedAt") if isinstance(body, dict) else None
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return {**body, "startedAt": datetime.now(UTC).isoformat()}
    return body


@schema.hook("map_body")
def started_now(context: Any, body: Any) -> Any:
    return _current_started_at(body)


FUZZ_SETTINGS = hypothesis_settings(
    max_examples=fuzz_examples(25), deadline=None, suppress_health_check=list(HealthCheck), database=None
)


@pytest.fixture
def fuzz_app(make_settings: Callable[..., Settings]) -> Any:
    return create_app(make_settings(rate_limit_enabled=False, tracing_enabled=False))


@schema.parametrize()
@FUZZ_SETTINGS
def test_schemathesis(case: Any, fuzz_app: Any) -> None:
    case.call_and_validate(app=fuzz_app)


# A second run where every tenant-scoped example names tenant-alfa in the path and the header, so the fuzzer
# reaches the handlers instead of stopping at 404 tenant_not_found.
tenant_schema = schemathesis.openapi.from_asgi("/openapi.json", _document_app())
tenant_schema.config.generation.update(allow_x00=False)


@tenant_schema.hook("map_path_parameters")
def alfa_path(context: Any, parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    # Only schema-valid values are replaced, so negative examples stay negative.
    value = (parameters or {}).get("tenantId")
    if parameters and isinstance(value, str) and 1 <= len(value) <= 64:
        return {**parameters, "tenantId": "tenant-alfa"}
    return parameters


@tenant_schema.hook("map_headers")
def alfa_header(context: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    # Stories are left alone: the rule "items belong to the X-Tenant-Id tenant" is not expressible in OpenAPI.
    headers = dict(headers) if headers else headers
    value = (headers or {}).get("X-Tenant-Id")
    if headers and "{tenantId}" in context.operation.path and isinstance(value, str) and value:
        headers["X-Tenant-Id"] = "tenant-alfa"
    # A valid Idempotency-Key becomes unique per example: reusing one across unrelated examples is a 422 by
    # design (same key, other payload), which is stateful behaviour the schema cannot describe.
    key = (headers or {}).get("Idempotency-Key")
    if headers and isinstance(key, str) and re.fullmatch(r"[!-~]{1,255}", key):
        headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4().hex}"
    return headers


@tenant_schema.hook("map_body")
def started_now_for_alfa(context: Any, body: Any) -> Any:
    return _current_started_at(body)


@tenant_schema.hook("map_query")
def same_page_size_and_alias_for_alfa(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    return same_page_size_and_alias(context, query)


@tenant_schema.parametrize()
@FUZZ_SETTINGS
def test_schemathesis_tenant_alfa(case: Any, fuzz_app: Any) -> None:
    case.call_and_validate(app=fuzz_app)
