"""Pagination of list endpoints (tenant metrics and stories)."""

from __future__ import annotations

import httpx
import pytest

from foundation.admission.routing import declared_routes
from tests.api.helpers import ALFA, STORIES, assert_problem, metrics_path, sample, story

ALFA_HDR = {"X-Tenant-Id": ALFA}
ENDPOINTS = [(metrics_path(), ALFA_HDR), (STORIES, ALFA_HDR)]


async def _fill(client: httpx.AsyncClient) -> None:
    samples = [sample("SC-005", i, f"2026-03-01T00:{i:02d}:00Z", "manual") for i in range(30)]
    assert (await client.post(metrics_path(), headers=ALFA_HDR, json={"samples": samples})).status_code == 201
    stories = [story("paged", f"paged--{i:02d}", ALFA) for i in range(30)]
    assert (await client.put(STORIES, headers=ALFA_HDR, json={"stories": stories})).status_code == 200


@pytest.mark.parametrize(("path", "headers"), ENDPOINTS)
async def test_defaults_and_alias(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    await _fill(client)
    default = (await client.get(path, headers=headers)).json()
    assert default["pagination"]["page"] == 1
    assert default["pagination"]["perPage"] == 25
    assert len(default["data"]) == 25
    total = default["pagination"]["totalItems"]
    assert total >= 30
    assert default["pagination"]["totalPages"] == -(-total // 25)
    alias = (await client.get(path, headers=headers, params={"per_page": 7, "page": 2})).json()
    assert alias["pagination"] == {"page": 2, "perPage": 7, "totalItems": total, "totalPages": -(-total // 7)}
    assert len(alias["data"]) == 7
    same = await client.get(path, headers=headers, params={"per_page": 7, "page_size": 7})
    assert same.status_code == 200
    page_one = (await client.get(path, headers=headers, params={"page_size": 7})).json()["data"]
    assert not {str(x) for x in page_one} & {str(x) for x in alias["data"]}


@pytest.mark.parametrize(("path", "headers"), ENDPOINTS)
async def test_alias_conflict_is_400(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    response = await client.get(path, headers=headers, params={"per_page": 5, "page_size": 6})
    body = assert_problem(response, 400, "invalid_pagination")
    assert body["violations"][0]["field"] in ("per_page", "page_size")


@pytest.mark.parametrize(("path", "headers"), ENDPOINTS)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": ""}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "101"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "1000"}, "per_page"),
    ],
)
async def test_invalid_values(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = await client.get(path, headers=headers, params=params)
    assert_problem(response, 400, "invalid_pagination", fields=[field])


@pytest.mark.parametrize(("path", "headers"), ENDPOINTS)
@pytest.mark.parametrize("page", [50, 10**6, 10**18, 10**30])
async def test_past_the_end(client: httpx.AsyncClient, path: str, headers: dict[str, str], page: int) -> None:
    response = await client.get(path, headers=headers, params={"page": str(page), "page_size": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == []
    assert body["pagination"]["page"] == page


@pytest.mark.parametrize(("path", "headers"), ENDPOINTS)
async def test_huge_page_size_is_400_not_5xx(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=headers, params={"page_size": str(10**30)})
    assert_problem(response, 400, "invalid_pagination", fields=["page_size"])


def test_every_query_model_is_immutable(client: httpx.AsyncClient) -> None:
    """Admission hands one validated query instance to every request with the same query string
    (admission/pipeline.parse_query), which is only safe when no handler can change it."""
    app = client._transport.app  # type: ignore[attr-defined]
    models = {route.declaration.query for route in declared_routes(app.routes)} - {None}
    assert models, "no endpoint declares query parameters"
    for model in models:
        assert model.model_config.get("frozen") is True, model.__name__


async def test_a_repeated_query_string_validates_as_the_first_did(client: httpx.AsyncClient) -> None:
    await _fill(client)
    for _ in range(2):  # the second round is answered from the memo of validated queries
        second = (await client.get(STORIES, headers=ALFA_HDR, params={"page": 2, "per_page": 5})).json()
        assert second["pagination"] == {**second["pagination"], "page": 2, "perPage": 5}
        assert_problem(
            await client.get(STORIES, headers=ALFA_HDR, params={"page": 0}), 400, "invalid_pagination"
        )
