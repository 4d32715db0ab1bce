"""Design-system stories: visibility (own + global), filters, ETags and the batch upsert."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    ALFA,
    BETA,
    DEFAULT_TENANT,
    STORIES,
    assert_problem,
    assert_ratelimit_headers,
    story,
)


async def put(
    client: httpx.AsyncClient, items: list[dict[str, Any]], tenant: str | None = None
) -> httpx.Response:
    headers = {"X-Tenant-Id": tenant} if tenant else {}
    return await client.put(STORIES, headers=headers, json={"stories": items})


async def listed(client: httpx.AsyncClient, tenant: str | None = None, **params: Any) -> list[dict[str, Any]]:
    headers = {"X-Tenant-Id": tenant} if tenant else {}
    response = await client.get(STORIES, headers=headers, params={"page_size": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def seed_visibility(client: httpx.AsyncClient) -> None:
    response = await put(
        client,
        [
            story("card", "card--global", None),
            story("card", "card--alfa", ALFA),
            story("card", "card--beta", "tenant-beta"),
            story("card", "card--default", "tenant-default"),
        ],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"upserted": 4}


async def test_visibility(client: httpx.AsyncClient) -> None:
    await seed_visibility(client)
    without = {i["storyId"] for i in await listed(client, componentId="card")}
    assert without == {"card--global", "card--default"}
    for tenant, own in (("tenant-alfa", "card--alfa"), (BETA, "card--beta"), (ALFA.upper(), "card--alfa")):
        assert {i["storyId"] for i in await listed(client, tenant, componentId="card")} == {
            "card--global",
            own,
        }


async def test_item_shape(client: httpx.AsyncClient) -> None:
    await put(client, [story("chip", "chip--a", "tenant-alfa", tags=["x", "y"], coveragePercent=55.5)])
    item = (await listed(client, ALFA, componentId="chip"))[0]
    assert set(item) == {
        "id",
        "tenantId",
        "componentId",
        "storyId",
        "tags",
        "coveragePercent",
        "axeStatus",
        "chromaticBuild",
        "storybookUrl",
        "updatedAt",
    }
    assert item["tenantId"] == ALFA
    assert item["tags"] == ["x", "y"]
    assert item["coveragePercent"] == 55.5
    assert item["axeStatus"] == "pass"


async def test_unknown_header_tenant_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(STORIES, headers={"X-Tenant-Id": "tenant-nope"})
    assert_problem(response, 404, "tenant_not_found")


async def test_filters(client: httpx.AsyncClient) -> None:
    await put(
        client,
        [
            story("btn", "btn--1", ALFA, tags=["core", "a11y"]),
            story("btn", "btn--2", ALFA, tags=["core"]),
            story("link", "link--1", None, tags=["a11y"]),
            story("btn", "btn--beta", BETA, tags=["a11y"]),
        ],
    )
    assert {i["storyId"] for i in await listed(client, ALFA, componentId="btn")} == {"btn--1", "btn--2"}
    assert {i["storyId"] for i in await listed(client, ALFA, tag="a11y")} == {"btn--1", "link--1"}
    assert {i["storyId"] for i in await listed(client, ALFA, tag="a11y", componentId="btn")} == {"btn--1"}
    assert await listed(client, ALFA, tag="a11") == []
    assert await listed(client, ALFA, componentId="BTN") == []


async def test_newest_first(client: httpx.AsyncClient) -> None:
    for index in range(3):
        await put(client, [story("order", f"order--{index}", ALFA)], "tenant-alfa")
    stamps = [i["updatedAt"] for i in await listed(client, ALFA)]
    assert stamps == sorted(stamps, reverse=True)
    ordered = [i["storyId"] for i in await listed(client, ALFA, componentId="order")]
    assert ordered[-1] == "order--0"


async def test_etag_and_304(client: httpx.AsyncClient) -> None:
    first = await client.get(STORIES, headers={"X-Tenant-Id": ALFA})
    assert_ratelimit_headers(first, 120)
    response = await client.get(
        STORIES, headers={"X-Tenant-Id": ALFA, "If-None-Match": first.headers["etag"]}
    )
    assert response.status_code == 304
    assert_ratelimit_headers(response, 120)


async def test_upsert_updates_not_duplicates(client: httpx.AsyncClient) -> None:
    await put(client, [story("tab", "tab--1", ALFA, coveragePercent=10, tags=["a"])])
    second = await put(
        client, [story("tab", "tab--1", "tenant-alfa", coveragePercent=90, tags=["b"], axeStatus="warn")]
    )
    assert second.json() == {"upserted": 1}
    items = await listed(client, ALFA, componentId="tab")
    assert len(items) == 1
    assert (items[0]["coveragePercent"], items[0]["tags"], items[0]["axeStatus"]) == (90, ["b"], "warn")
    # Same component/story for another tenant or globally are different stories.
    await put(client, [story("tab", "tab--1", BETA), story("tab", "tab--1", None)])
    assert len(await listed(client, ALFA, componentId="tab")) == 2
    assert len(await listed(client, BETA, componentId="tab")) == 2


async def test_the_same_stories_again_change_nothing(client: httpx.AsyncClient) -> None:
    """Re-sending the same Storybook build (metrics ingest storybook) keeps updatedAt, order and ETag; a tag
    change is a change."""
    items = [story("menu", "menu--1", ALFA, tags=["critical", "core"]), story("menu", "menu--2", None)]
    assert (await put(client, items)).status_code == 200
    before = await client.get(STORIES, headers={"X-Tenant-Id": ALFA}, params={"componentId": "menu"})
    again = await put(client, items)
    assert again.status_code == 200 and again.json() == {"upserted": 2}
    after = await client.get(STORIES, headers={"X-Tenant-Id": ALFA}, params={"componentId": "menu"})
    assert after.json() == before.json()
    assert after.headers["etag"] == before.headers["etag"]

    retagged = [story("menu", "menu--1", ALFA, tags=["core", "critical"]), items[1]]
    assert (await put(client, retagged)).status_code == 200
    changed = {i["storyId"]: i for i in await listed(client, ALFA, componentId="menu")}
    unchanged = {i["storyId"]: i for i in before.json()["data"]}
    assert changed["menu--1"]["tags"] == ["core", "critical"]
    assert changed["menu--2"]["updatedAt"] == unchanged["menu--2"]["updatedAt"]


async def test_header_tenant_restricts_items(client: httpx.AsyncClient) -> None:
    response = await put(
        client, [story("a", "a--1", ALFA), story("a", "a--2", None), story("a", "a--3", BETA)], "tenant-alfa"
    )
    assert_problem(response, 400, "invalid_request", fields=["stories[2].tenantId"])
    assert await listed(client, ALFA, componentId="a") == []
    ok = await put(client, [story("a", "a--1", ALFA), story("a", "a--2", None)], ALFA)
    assert ok.json() == {"upserted": 2}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (story(coveragePercent=101), "stories[1].coveragePercent"),
        (story(coveragePercent=-1), "stories[1].coveragePercent"),
        (story(coveragePercent="50"), "stories[1].coveragePercent"),
        (story(axeStatus="ok"), "stories[1].axeStatus"),
        (story(componentId=""), "stories[1].componentId"),
        (story(storybookUrl="ftp://x"), "stories[1].storybookUrl"),
        (story(tags=[""]), "stories[1].tags[0]"),
        ({k: v for k, v in story().items() if k != "storyId"}, "stories[1].storyId"),
    ],
)
async def test_invalid_items_write_nothing(
    client: httpx.AsyncClient, item: dict[str, Any], field: str
) -> None:
    response = await put(client, [story("ok", "ok--1", ALFA), item])
    problem = assert_problem(response, 400, "invalid_request")
    assert field in [v["field"] for v in problem["violations"]], problem["violations"]
    assert await listed(client, ALFA, componentId="ok") == []


async def test_unknown_item_tenant_is_404_and_writes_nothing(client: httpx.AsyncClient) -> None:
    response = await put(client, [story("ok", "ok--1", ALFA), story(tenant="tenant-nope")])
    assert_problem(response, 404, "tenant_not_found", fields=["stories[1].tenantId"])
    assert await listed(client, ALFA, componentId="ok") == []
    mixed = await put(client, [story(tenant="tenant-nope"), story(tenant=BETA)], ALFA)
    assert_problem(mixed, 400, "invalid_request", fields=["stories[0].tenantId", "stories[1].tenantId"])


@pytest.mark.parametrize("body", [{"stories": []}, {}, {"stories": [story()] * 501}])
async def test_batch_bounds(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.put(STORIES, json=body)
    assert_problem(response, 400, "invalid_request", fields=["stories"])


async def test_default_tenant_constant() -> None:
    assert DEFAULT_TENANT == "00000000-0000-0000-0000-000000000000"


async def test_parallel_upserts_of_one_story(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client(rate_limit_enabled=False) as http:
        responses = await asyncio.gather(
            *(
                put(http, [story("race", "race--1", ALFA, coveragePercent=i)], "tenant-alfa")
                for i in range(10)
            )
        )
        assert sorted(r.status_code for r in responses) == [200] * 10, [r.text for r in responses]
        assert len(await listed(http, ALFA, componentId="race")) == 1
