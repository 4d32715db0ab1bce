"""Theme GET/PUT, publication rules and the WCAG contrast report."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from foundation.db import Database
from foundation.tenancy.service import TenantDirectory
from tests.api.helpers import (
    ALFA,
    BETA,
    THEME_PATH,
    WEAK_ETAG,
    assert_problem,
    assert_ratelimit_headers,
    theme_path,
)
from tests.conftest import BACKEND

ALFA_HDR = {"X-Tenant-Id": "tenant-alfa"}
GAMMA = "00000000-0000-0000-0000-0000000000aa"

PASSING = {
    "foundation": {"color.brand.primary": "#0F5132", "color.brand.on-primary": "#FFFFFF", "space.md": "16px"},
    "semantic": {"status.info.bg": "#DBEAFE", "status.info.on": "#1E3A8A"},
    "component": {"colorPrimary": "#1D4ED8", "colorOnPrimary": "#FFFFFF"},
}


async def publish(
    client: httpx.AsyncClient, version: str, categories: dict[str, Any], **extra: Any
) -> httpx.Response:
    return await client.put(
        theme_path(ALFA, version), headers=ALFA_HDR, json={"categories": categories, **extra}
    )


async def test_current_theme_shape(client: httpx.AsyncClient) -> None:
    response = await client.get(THEME_PATH, headers=ALFA_HDR)
    assert response.status_code == 200
    body = response.json()
    assert body["tenantId"] == ALFA
    assert body["version"] == "1.0.0"
    assert set(body["categories"]) == {"foundation", "semantic", "component"}
    report = body["wcagReport"]
    assert report["status"] == "pass"
    assert isinstance(report["contrastRatio"], float) and report["contrastRatio"] >= 4.5
    assert set(report["categories"]) == {"foundation", "semantic", "component"}
    assert WEAK_ETAG.match(response.headers["etag"])
    assert_ratelimit_headers(response, 60)


async def test_all_categories_present_even_when_empty(client: httpx.AsyncClient) -> None:
    created = await publish(client, "2.0.0", {"semantic": {"status.ok.bg": "#FFFFFF"}}, makeCurrent=True)
    assert created.status_code == 201, created.text
    body = (await client.get(THEME_PATH, headers=ALFA_HDR)).json()
    assert body["version"] == "2.0.0"
    assert body["categories"] == {"foundation": {}, "semantic": {"status.ok.bg": "#FFFFFF"}, "component": {}}
    assert body["wcagReport"]["contrastRatio"] is None
    assert body["wcagReport"]["status"] == "pass"


@pytest.fixture
def admin_database_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """A URL allowed to provision tenants: the owner's on PostgreSQL, the test database on SQLite."""
    if BACKEND == "postgres":
        return str(request.getfixturevalue("owner_database_url"))
    return database_url


async def test_no_current_theme_is_404(client: httpx.AsyncClient, admin_database_url: str) -> None:
    db = Database(admin_database_url)
    try:
        await TenantDirectory(db).create("tenant-gamma", "Gamma", tenant_id=uuid.UUID(GAMMA))
    finally:
        await db.dispose()
    path = f"/api/v1/tenants/{GAMMA}/themes/current"
    assert_problem(
        await client.get(path, headers={"X-Tenant-Id": "tenant-gamma"}), 404, "tenant_theme_not_found"
    )
    failing = {"foundation": {"color.brand.primary": "#777777", "color.brand.on-primary": "#888888"}}
    published = await client.put(
        "/api/v1/tenants/tenant-gamma/themes/1.0.0",
        headers={"X-Tenant-Id": GAMMA},
        json={"categories": failing, "makeCurrent": True},
    )
    assert published.status_code == 201, published.text
    assert published.json()["current"] is False and published.json()["warnings"]
    assert_problem(await client.get(path, headers={"X-Tenant-Id": GAMMA}), 404, "tenant_theme_not_found")


async def test_publish_first_201_identical_200_different_409(client: httpx.AsyncClient) -> None:
    first = await publish(client, "2.1.0", PASSING)
    assert first.status_code == 201, first.text
    assert WEAK_ETAG.match(first.headers["etag"])
    assert_ratelimit_headers(first, 60)
    body = first.json()
    assert body["version"] == "2.1.0" and body["tenantId"] == ALFA
    assert body["current"] is False
    again = await publish(client, "2.1.0", PASSING)
    assert again.status_code == 200
    assert again.headers["etag"] == first.headers["etag"]
    assert again.json()["generatedAt"] == body["generatedAt"]
    changed = {**PASSING, "foundation": {**PASSING["foundation"], "space.md": "18px"}}
    conflict = await publish(client, "2.1.0", changed)
    assert_problem(conflict, 409, "theme_version_conflict")
    # The seed version is taken too.
    assert_problem(await publish(client, "1.0.0", PASSING), 409, "theme_version_conflict")


async def test_make_current_switches(client: httpx.AsyncClient) -> None:
    before = await client.get(THEME_PATH, headers=ALFA_HDR)
    response = await publish(client, "2.2.0", PASSING, makeCurrent=True)
    assert response.status_code == 201
    assert response.json()["current"] is True
    after = await client.get(THEME_PATH, headers=ALFA_HDR)
    assert after.json()["version"] == "2.2.0"
    assert after.headers["etag"] != before.headers["etag"]
    stale = await client.get(THEME_PATH, headers={**ALFA_HDR, "If-None-Match": before.headers["etag"]})
    assert stale.status_code == 200
    # Re-publishing the old version identically with makeCurrent switches back.
    old = before.json()
    back = await publish(client, "1.0.0", old["categories"], makeCurrent=True)
    assert back.status_code == 200, back.text
    assert (await client.get(THEME_PATH, headers=ALFA_HDR)).json()["version"] == "1.0.0"
    # Other tenants are unaffected.
    beta = await client.get(f"/api/v1/tenants/{BETA}/themes/current", headers={"X-Tenant-Id": BETA})
    assert beta.json()["version"] == "1.0.0"


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "latest", "1.0.0-", "1..0"])
async def test_non_semver_is_400(client: httpx.AsyncClient, version: str) -> None:
    response = await publish(client, version, PASSING)
    assert_problem(response, 400, "invalid_request", fields=["version"])


@pytest.mark.parametrize("version", ["1.0.0-rc.1", "10.20.30+build.5", "0.0.1"])
async def test_semver_variants_accepted(client: httpx.AsyncClient, version: str) -> None:
    assert (await publish(client, version, PASSING)).status_code == 201


@pytest.mark.parametrize(
    ("categories", "field"),
    [
        ({"foundation": {"bad name": "#fff"}}, "categories.foundation.bad name"),
        ({"foundation": {"color..x": "#fff"}}, "categories.foundation.color..x"),
        ({"semantic": {"-lead": "#fff"}}, "categories.semantic.-lead"),
        ({"component": {"ok": ""}}, "categories.component.ok"),
        ({"component": {"ok": "x" * 257}}, "categories.component.ok"),
        ({"component": {"ok": 5}}, "categories.component.ok"),
        ({"unknown": {}}, "categories.unknown"),
        ({"foundation": []}, "categories.foundation"),
    ],
)
async def test_bad_tokens_are_400_with_paths(client: httpx.AsyncClient, categories: Any, field: str) -> None:
    response = await publish(client, "4.0.0", categories)
    body = assert_problem(response, 400, "invalid_request")
    assert field in [v["field"] for v in body["violations"]], body["violations"]


async def test_missing_categories_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put(theme_path(ALFA, "4.0.0"), headers=ALFA_HDR, json={})
    assert_problem(response, 400, "invalid_request", fields=["categories"])


async def test_wcag_pairs_and_alpha(client: httpx.AsyncClient) -> None:
    categories = {
        "foundation": {
            "color.brand.primary": "#000000",
            "color.brand.on-primary": "#FFFFFF",
            "color.glass.bg": "#FFFFFF80",
            "color.glass.on": "#000000",
        },
        "semantic": {"status.info.bg": "#FFF", "status.info.on": "#000"},
        "component": {"colorPrimary": "#FFFFFF", "colorOnPrimary": "#000000"},
    }
    response = await publish(client, "5.0.0", categories)
    assert response.status_code == 201, response.text
    report = response.json()["wcagReport"]
    pairs = {(p["foreground"], p["background"]) for p in report["checkedPairs"]}
    assert pairs == {
        ("foundation.color.brand.on-primary", "foundation.color.brand.primary"),
        ("semantic.status.info.on", "semantic.status.info.bg"),
        ("component.colorOnPrimary", "component.colorPrimary"),
    }
    assert report["status"] == "pass"
    assert report["contrastRatio"] == 21.0
    assert report["failures"] == []
    assert any(s["foreground"] == "foundation.color.glass.on" for s in report["skipped"])


async def test_failing_theme_is_stored_never_current(client: httpx.AsyncClient) -> None:
    categories = {"foundation": {"color.brand.primary": "#777777", "color.brand.on-primary": "#888888"}}
    response = await publish(client, "6.0.0", categories, makeCurrent=True)
    assert response.status_code == 201, response.text
    assert response.json()["current"] is False
    assert response.json()["warnings"] == ["makeCurrent ignored: the theme fails the WCAG AA contrast check"]
    current = (await client.get(THEME_PATH, headers=ALFA_HDR)).json()
    assert current["version"] == "1.0.0"
    if response.status_code == 201:
        body = response.json()
        assert body["current"] is False
        report = body["wcagReport"]
        assert report["status"] == "fail"
        assert report["contrastRatio"] < 4.5
        assert [f["foreground"] for f in report["failures"]] == ["foundation.color.brand.on-primary"]
        assert body["warnings"]
        # Stored: the identical payload is a 200, a different one a conflict.
        assert (await publish(client, "6.0.0", categories)).status_code == 200
        assert (await publish(client, "6.0.0", {"foundation": {}})).status_code == 409
    else:
        assert response.headers["content-type"] == "application/problem+json"


async def test_client_wcag_report_is_ignored(client: httpx.AsyncClient) -> None:
    response = await publish(client, "7.0.0", PASSING, wcagReport={"status": "fail", "contrastRatio": 1})
    assert response.status_code == 201
    assert response.json()["wcagReport"]["status"] == "pass"


async def test_parallel_identical_publishes(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(rate_limit_enabled=False) as http:
        responses = await asyncio.gather(*(publish(http, "8.0.0", PASSING) for _ in range(10)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 9 + [201], statuses
        assert len({r.headers["etag"] for r in responses}) == 1


async def test_parallel_conflicting_publishes(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(rate_limit_enabled=False) as http:
        payloads = [{"foundation": {"space.md": f"{i}px"}} for i in range(10)]
        responses = await asyncio.gather(*(publish(http, "8.1.0", p) for p in payloads))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 9, statuses


@pytest.mark.parametrize("value", [0, 1, "true", None])
async def test_make_current_must_be_a_json_boolean(client: httpx.AsyncClient, value: object) -> None:
    response = await publish(client, "9.1.0", PASSING, makeCurrent=value)
    assert_problem(response, 400, "invalid_request", fields=["makeCurrent"])
