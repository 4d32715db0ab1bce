"""Scaffold registration: idempotency, conflicts, validation of every body rule, concurrency."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from foundation.db import Database, utcnow
from foundation.scaffolds.models import IdempotencyRecord
from foundation.scaffolds.schemas import RELATIVE_PATH
from tests.api.helpers import (
    ALFA,
    BETA,
    CHECKSUM,
    RFC3339_Z,
    WEAK_ETAG,
    assert_problem,
    assert_ratelimit_headers,
    metrics_path,
    scaffold_body,
    scaffold_headers,
    scaffold_path,
)

ALFA_HDR = {"X-Tenant-Id": "tenant-alfa"}
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def free_client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(rate_limit_enabled=False) as http:
        yield http


async def post(client: httpx.AsyncClient, body: Any, key: str | None = None, **extra: str) -> httpx.Response:
    return await client.post(scaffold_path(), json=body, headers=scaffold_headers(ALFA, key, **extra))


# --- happy path and idempotency ---------------------------------------------------------------------------


async def test_created(client: httpx.AsyncClient) -> None:
    response = await post(client, scaffold_body(), "key-1")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "scaffoldId",
        "tenantId",
        "featureSlug",
        "status",
        "recordedAt",
        "metrics",
        # api.md §3 (tests/api/test_lifecycle.py)
        "initiatedAt",
        "events",
        "leadTimeMinutes",
    }
    uuid.UUID(body["scaffoldId"])
    assert body["tenantId"] == ALFA
    assert body["featureSlug"] == "loan-simulator"
    assert body["status"] == "initiated"
    assert RFC3339_Z.match(body["recordedAt"])
    assert body["metrics"] == []
    assert response.headers["location"] == f"/api/v1/tenants/{ALFA}/features/scaffold/loan-simulator"
    assert response.headers["idempotency-key"] == "key-1"
    assert WEAK_ETAG.match(response.headers["etag"])
    assert "idempotent-replayed" not in response.headers
    assert_ratelimit_headers(response, 30)


async def test_replay(client: httpx.AsyncClient) -> None:
    first = await post(client, scaffold_body(), "key-1")
    replay = await post(client, scaffold_body(), "key-1")
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert replay.headers["etag"] == first.headers["etag"]
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["idempotency-key"] == "key-1"
    # Unknown fields are ignored, so they do not change the fingerprint either.
    extra = await post(client, {**scaffold_body(), "somethingNew": [1, 2]}, "key-1")
    assert extra.status_code == 200
    assert extra.json()["scaffoldId"] == first.json()["scaffoldId"]


async def test_replay_conditional(client: httpx.AsyncClient) -> None:
    first = await post(client, scaffold_body(), "key-1")
    etag = first.headers["etag"]
    not_modified = await post(client, scaffold_body(), "key-1", **{"If-None-Match": f'"x", {etag}'})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    other = await post(client, scaffold_body(), "key-1", **{"If-None-Match": 'W/"' + "0" * 32 + '"'})
    assert other.status_code == 200
    wildcard = await post(client, scaffold_body(), "key-1", **{"If-None-Match": "*"})
    assert_problem(wildcard, 412, "precondition_failed")


async def test_wildcard_on_first_request_creates(client: httpx.AsyncClient) -> None:
    response = await post(client, scaffold_body(), "key-1", **{"If-None-Match": "*"})
    assert response.status_code == 201


async def test_same_key_different_payload_is_422(client: httpx.AsyncClient) -> None:
    await post(client, scaffold_body(), "key-1")
    response = await post(client, scaffold_body(lintCommitHash="c" * 40), "key-1")
    assert_problem(response, 422, "idempotency_payload_mismatch")
    other_slug = await post(client, scaffold_body("another-one"), "key-1")
    assert_problem(other_slug, 422, "idempotency_payload_mismatch")


async def test_other_key_same_slug_is_409(client: httpx.AsyncClient) -> None:
    first = await post(client, scaffold_body(), "key-1")
    response = await post(client, scaffold_body(), "key-2")
    assert_problem(response, 409, "feature_already_registered")
    assert response.headers["location"] == first.headers["location"]
    # The conflicting key was not stored: it can still register another slug.
    assert (await post(client, scaffold_body("next-feature"), "key-2")).status_code == 201


async def test_keys_are_per_tenant(client: httpx.AsyncClient) -> None:
    await post(client, scaffold_body(), "shared-key")
    beta = await client.post(
        scaffold_path(BETA), json=scaffold_body("beta-thing"), headers=scaffold_headers(BETA, "shared-key")
    )
    assert beta.status_code == 201


async def test_missing_key_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(scaffold_path(), json=scaffold_body(), headers=ALFA_HDR)
    assert_problem(response, 400, "idempotency_key_required", fields=["Idempotency-Key"])


@pytest.mark.parametrize(
    "key",
    [b"", b"x" * 256, b"has space", b"tab\tkey", "cl\u00e9".encode(), "\u2603".encode(), b"\x7f"],
)
async def test_malformed_key_is_400(client: httpx.AsyncClient, key: bytes) -> None:
    response = await client.post(
        scaffold_path(),
        json=scaffold_body(),
        headers=[(b"X-Tenant-Id", b"tenant-alfa"), (b"Idempotency-Key", key)],
    )
    assert_problem(response, 400, "idempotency_key_invalid", fields=["Idempotency-Key"])


@pytest.mark.parametrize("key", ["a", "x" * 255, "!~#$%&'*+-.^_`|", "2f1b0c8e-uuid-like"])
async def test_valid_keys(client: httpx.AsyncClient, key: str) -> None:
    response = await post(client, scaffold_body(), key)
    assert response.status_code == 201, response.text
    assert response.headers["idempotency-key"] == key


async def test_duration_records_sc001(client: httpx.AsyncClient) -> None:
    response = await post(client, scaffold_body(durationMs=90_000), "key-1")
    assert response.status_code == 201
    metrics = response.json()["metrics"]
    assert len(metrics) == 1
    sample = metrics[0]
    assert sample["code"] == "SC-001"
    assert sample["value"] == 1.5
    assert sample["source"] == "ci"
    assert sample["featureSlug"] == "loan-simulator"
    assert sample["collectedAt"] == response.json()["recordedAt"]
    listed = (await client.get(metrics_path(), headers=ALFA_HDR, params={"code": "SC-001"})).json()["data"]
    assert sample in listed
    # A replay does not record a second sample.
    await post(client, scaffold_body(durationMs=90_000), "key-1")
    again = (await client.get(metrics_path(), headers=ALFA_HDR, params={"code": "SC-001"})).json()["data"]
    assert sum(1 for item in again if item.get("featureSlug") == "loan-simulator") == 1


async def test_get_registration(client: httpx.AsyncClient) -> None:
    created = await post(client, scaffold_body(durationMs=60_000), "key-1")
    path = created.headers["location"]
    for candidate in (path, f"{scaffold_path('tenant-alfa')}/loan-simulator"):
        response = await client.get(candidate, headers=ALFA_HDR)
        assert response.status_code == 200
        assert response.json() == created.json()
        assert response.headers["etag"] == created.headers["etag"]
        assert response.headers["cache-control"] == "private, no-cache"
    not_modified = await client.get(path, headers={**ALFA_HDR, "If-None-Match": created.headers["etag"]})
    assert not_modified.status_code == 304


@pytest.mark.parametrize("slug", ["absent", "UPPER", "x" * 65, "bad%20slug"])
async def test_get_absent_registration_is_404(client: httpx.AsyncClient, slug: str) -> None:
    response = await client.get(f"{scaffold_path()}/{slug}", headers=ALFA_HDR)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_replay_after_restart(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client() as first_app:
        first = await post(first_app, scaffold_body(), "key-restart")
    async with make_client() as second_app:
        replay = await post(second_app, scaffold_body(), "key-restart")
        assert replay.status_code == 200
        assert replay.json()["scaffoldId"] == first.json()["scaffoldId"]
        assert replay.headers["etag"] == first.headers["etag"]
        assert_problem(
            await post(second_app, scaffold_body(), "key-other"), 409, "feature_already_registered"
        )


async def test_expired_key_is_new(
    client: httpx.AsyncClient, make_client: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    # Registered by another process: the serving one has not kept the key (scaffolds/kept_keys.py), and the
    # expiry below is moved in the database only, as time would move it.
    async with make_client() as other_process:
        first = await post(other_process, scaffold_body(), "key-old")
    assert first.status_code == 201
    db = Database(database_url)
    try:
        async with db.transaction(uuid.UUID(ALFA), write=True) as session:
            result = await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.idempotency_key == "key-old")
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            assert result.rowcount == 1  # type: ignore[attr-defined]
    finally:
        await db.dispose()
    response = await post(client, scaffold_body(), "key-old")
    assert_problem(response, 409, "feature_already_registered")
    # The expired key is free for a new payload.
    assert (await post(client, scaffold_body("fresh-feature"), "key-old")).status_code == 201


# --- concurrency --------------------------------------------------------------------------------------------


async def test_parallel_identical_first_requests(free_client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(post(free_client, scaffold_body(), "same-key") for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201], statuses
    assert len({r.json()["scaffoldId"] for r in responses}) == 1
    assert len({r.headers["etag"] for r in responses}) == 1


async def test_parallel_different_keys_one_slug(free_client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(post(free_client, scaffold_body(), f"key-{i}") for i in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    for response in responses:
        if response.status_code == 409:
            assert response.json()["title"] == "feature_already_registered"


# --- body validation ---------------------------------------------------------------------------------------


def with_file(**file: Any) -> dict[str, Any]:
    base = {"path": "src/features/x/index.ts", "checksum": CHECKSUM}
    base.update(file)
    return scaffold_body(slices=[{"slice": "features", "files": [base]}])


INVALID_BODIES = [
    ({k: v for k, v in scaffold_body().items() if k != "featureSlug"}, "featureSlug"),
    (scaffold_body(""), "featureSlug"),
    (scaffold_body("x" * 65), "featureSlug"),
    (scaffold_body("Loan"), "featureSlug"),
    (scaffold_body("loan_sim"), "featureSlug"),
    (scaffold_body(featureSlug=5), "featureSlug"),
    (scaffold_body(initiatedBy="nobody"), "initiatedBy"),
    ({k: v for k, v in scaffold_body().items() if k != "initiatedBy"}, "initiatedBy"),
    (scaffold_body(slices=[]), "slices"),
    (scaffold_body(slices=[{"slice": "app", "files": [{"path": "a", "checksum": CHECKSUM}]}] * 6), "slices"),
    (
        scaffold_body(slices=[{"slice": "widgets", "files": [{"path": "a", "checksum": CHECKSUM}]}]),
        "slices[0].slice",
    ),
    (scaffold_body(slices=[{"slice": "app", "files": []}]), "slices[0].files"),
    (scaffold_body(slices=[{"slice": "app"}]), "slices[0].files"),
    (with_file(path="/etc/passwd"), "slices[0].files[0].path"),
    (with_file(path="src/../../etc"), "slices[0].files[0].path"),
    (with_file(path=".."), "slices[0].files[0].path"),
    (with_file(path="a" * 513), "slices[0].files[0].path"),
    (with_file(path=""), "slices[0].files[0].path"),
    (with_file(checksum="A" * 64), "slices[0].files[0].checksum"),
    (with_file(checksum="a" * 63), "slices[0].files[0].checksum"),
    (scaffold_body(lintCommitHash="b" * 39), "lintCommitHash"),
    (scaffold_body(lintCommitHash="g" * 40), "lintCommitHash"),
    (scaffold_body(scReferences=[]), "scReferences"),
    (scaffold_body(scReferences=["@SC-006"]), "scReferences[0]"),
    (scaffold_body(scReferences=["@SC-001", "SC-002"]), "scReferences[1]"),
    (scaffold_body(durationMs=-1), "durationMs"),
    (scaffold_body(durationMs=86_400_001), "durationMs"),
    (scaffold_body(durationMs=1.5), "durationMs"),
    (scaffold_body(durationMs="1000"), "durationMs"),
    (scaffold_body(durationMs=True), "durationMs"),
    (scaffold_body(metadata={"blob": "x" * (16 * 1024)}), "metadata"),
    (scaffold_body(metadata=[1]), "metadata"),
    (scaffold_body(metadata="text"), "metadata"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
async def test_invalid_body(client: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    response = await post(client, body)
    problem = assert_problem(response, 400, "invalid_request")
    fields = [v["field"] for v in problem["violations"]]
    assert fields == [field], problem["violations"]
    assert all("(" not in f and "'" not in f for f in fields)


async def test_second_file_checksum_path(client: httpx.AsyncClient) -> None:
    files = [{"path": "a.ts", "checksum": CHECKSUM}, {"path": "b.ts", "checksum": "nope"}]
    body = scaffold_body(slices=[{"slice": "app", "files": files}])
    response = await post(client, body)
    assert_problem(response, 400, "invalid_request", fields=["slices[0].files[1].checksum"])


async def test_invalid_body_writes_nothing(client: httpx.AsyncClient) -> None:
    await post(client, scaffold_body(durationMs=-5), "key-1")
    response = await client.get(f"{scaffold_path()}/loan-simulator", headers=ALFA_HDR)
    assert response.status_code == 404
    assert (await post(client, scaffold_body(), "key-1")).status_code == 201


@pytest.mark.parametrize(
    "overrides",
    [
        {"durationMs": 0},
        {"durationMs": 86_400_000},
        {"durationMs": 60_000.0},
        {"metadata": {"blob": "x" * (16 * 1024 - 20)}},
        {"metadata": {}},
        {
            "slices": [
                {"slice": s, "files": [{"path": "a.ts", "checksum": CHECKSUM}]}
                for s in ("app", "pages", "features", "entities", "shared")
            ]
        },
        {"scReferences": ["@SC-001", "@SC-002", "@SC-003", "@SC-004", "@SC-005"]},
        {"unknownField": {"nested": True}},
    ],
)
async def test_valid_edge_bodies(client: httpx.AsyncClient, overrides: dict[str, Any]) -> None:
    response = await post(client, scaffold_body(**overrides))
    assert response.status_code == 201, response.text


async def test_path_of_512_chars_and_dots_in_names(client: httpx.AsyncClient) -> None:
    for index, path in enumerate(("a" * 512, "src/..hidden/x.ts", "src/a..b.ts")):
        response = await post(client, with_file(path=path) | {"featureSlug": f"edge-{index}"})
        assert response.status_code == 201, (path, response.text)


SLUG_OK = st.from_regex(r"\A[a-z0-9-]{1,64}\Z")


def text(**kwargs: Any) -> st.SearchStrategy[str]:
    """Text without U+0000: a NUL anywhere in a body is refused for the body as a whole (see
    test_nul_characters.py); these properties are about each field's own rule."""
    return st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), **kwargs)


@PROPERTY
@given(slug=SLUG_OK)
async def test_property_valid_slugs(free_client: httpx.AsyncClient, slug: str) -> None:
    # Examples share the test's database: a slug an earlier example registered is a 409 with its Location.
    earlier = await free_client.get(f"{scaffold_path()}/{slug}", headers={"X-Tenant-Id": ALFA})
    response = await post(free_client, scaffold_body(slug))
    if earlier.status_code == 200:
        assert response.status_code == 409, response.text
        assert response.headers["location"].endswith(f"/features/scaffold/{slug}")
    else:
        assert response.status_code == 201, response.text
        assert response.json()["featureSlug"] == slug


@PROPERTY
@given(
    slug=text(max_size=80).filter(
        lambda s: not (1 <= len(s) <= 64 and set(s) <= set("abcdefghijklmnopqrstuvwxyz0123456789-"))
    )
)
async def test_property_invalid_slugs(free_client: httpx.AsyncClient, slug: str) -> None:
    response = await post(free_client, scaffold_body(featureSlug=slug))
    assert_problem(response, 400, "invalid_request", fields=["featureSlug"])


@PROPERTY
@given(checksum=text(max_size=70).filter(lambda s: not (len(s) == 64 and set(s) <= set("0123456789abcdef"))))
async def test_property_invalid_checksums(free_client: httpx.AsyncClient, checksum: str) -> None:
    response = await post(free_client, with_file(checksum=checksum))
    assert_problem(response, 400, "invalid_request", fields=["slices[0].files[0].checksum"])


@PROPERTY
@given(
    commit=st.text(alphabet="0123456789abcdefABCDEFg", max_size=45).filter(
        lambda s: not (len(s) == 40 and set(s) <= set("0123456789abcdef"))
    )
)
async def test_property_invalid_commit_hash(free_client: httpx.AsyncClient, commit: str) -> None:
    response = await post(free_client, scaffold_body(lintCommitHash=commit))
    assert_problem(response, 400, "invalid_request", fields=["lintCommitHash"])


@PROPERTY
@given(ref=text(max_size=10).filter(lambda s: s not in {f"@SC-00{i}" for i in range(1, 6)}))
async def test_property_invalid_sc_reference(free_client: httpx.AsyncClient, ref: str) -> None:
    response = await post(free_client, scaffold_body(scReferences=["@SC-001", ref]))
    assert_problem(response, 400, "invalid_request", fields=["scReferences[1]"])


@PROPERTY
@given(
    duration=st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=86_400_001),
        st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda f: not (f.is_integer() and 0 <= f <= 86_400_000)
        ),
        text(),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    )
)
async def test_property_invalid_duration(free_client: httpx.AsyncClient, duration: Any) -> None:
    response = await post(free_client, scaffold_body(durationMs=duration))
    assert_problem(response, 400, "invalid_request", fields=["durationMs"])


@PROPERTY
@given(duration=st.integers(min_value=0, max_value=86_400_000))
async def test_property_valid_duration(free_client: httpx.AsyncClient, duration: int) -> None:
    response = await post(free_client, scaffold_body(f"d-{uuid.uuid4().hex}", durationMs=duration))
    assert response.status_code == 201, response.text
    assert response.json()["metrics"][0]["value"] == pytest.approx(duration / 60000)


@PROPERTY
@given(
    path=st.one_of(
        text(min_size=1, max_size=40).map(lambda s: "/" + s),
        st.lists(st.sampled_from(["src", "a", "..", "b.ts"]), min_size=1, max_size=5)
        .filter(lambda parts: ".." in parts)
        .map("/".join),
        text(min_size=513, max_size=600),
    )
)
async def test_property_invalid_paths(free_client: httpx.AsyncClient, path: str) -> None:
    response = await post(free_client, with_file(path=path))
    assert_problem(response, 400, "invalid_request", fields=["slices[0].files[0].path"])


@PROPERTY
@given(path=st.text(alphabet=st.sampled_from(list("ab.:/\\C\x01 \u00e9")), min_size=1, max_size=12))
async def test_property_documented_path_pattern_matches_behaviour(
    free_client: httpx.AsyncClient, path: str
) -> None:
    response = await post(free_client, with_file(path=path) | {"featureSlug": f"p-{uuid.uuid4().hex}"})
    assert response.status_code == (201 if re.fullmatch(RELATIVE_PATH, path) else 400), (path, response.text)
