"""Fuzzing the secured app: schemathesis with a valid token, hypothesis on the Authorization header."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.app import create_app
from foundation.db import Database
from foundation.settings import Settings
from tests.auth.conftest import ALL_SCOPES, AUDIENCE, ISSUER, KeySet
from tests.conftest import ALFA, fuzz_examples

EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def secured_app(make_settings: Callable[..., Settings], keys: KeySet) -> Iterator[Any]:
    app = create_app(
        make_settings(
            auth="jwt",
            auth_jwks=str(keys.jwks_path),
            auth_issuer=ISSUER,
            auth_audience=AUDIENCE,
            rate_limit_enabled=False,
            tracing_enabled=False,
        )
    )
    yield app
    asyncio.run(app.state.services[Database].dispose())


def test_schemathesis_with_a_valid_token_finds_no_5xx(secured_app: Any, mint: Callable[..., str]) -> None:
    token = mint(scopes=[*ALL_SCOPES, "platform.admin"])
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", secured_app)
    schema.config.generation.update(allow_x00=False)  # NUL is a documented 400 (test_nul_characters.py)
    failures: list[str] = []
    statuses: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=fuzz_examples(EXAMPLES_PER_OPERATION),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(headers=auth)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                )

        run()
    assert operations >= 10
    assert not failures, "\n".join(failures[:10])
    assert 401 not in statuses, "the valid token was refused"
    assert any(status < 300 for status in statuses), sorted(set(statuses))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_VISIBLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
_segment = st.one_of(st.binary(max_size=200).map(_b64), st.text(_VISIBLE, max_size=60))
_header_json = st.fixed_dictionaries(
    {
        "alg": st.one_of(
            st.sampled_from(["none", "None", "HS256", "RS256", "ES256", "PS256", "EdDSA", ""]),
            st.integers(),
            st.none(),
            st.lists(st.text(max_size=3), max_size=2),
        )
    },
    optional={
        "kid": st.one_of(st.text(max_size=20), st.integers(), st.none()),
        "crit": st.lists(st.text(max_size=5), max_size=2),
        "jku": st.just("http://127.0.0.1:9/jwks.json"),
        "typ": st.text(max_size=5),
    },
)
_claims_json = st.dictionaries(
    st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "scope", "scp", "tenant_id", "sub"]),
    st.one_of(
        st.text(max_size=40),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        st.lists(st.text(max_size=10), max_size=3),
        st.none(),
        st.booleans(),
    ),
)
_structured = st.builds(
    lambda header, claims, signature: (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{signature}"
    ),
    _header_json,
    _claims_json,
    _segment,
)
AUTHORIZATION = st.one_of(
    st.text(_LATIN1, max_size=300),
    st.builds(
        lambda scheme, token: f"{scheme} {token}",
        st.sampled_from(["Bearer", "bearer", "BEARER", "Basic"]),
        st.text(_LATIN1, max_size=300),
    ),
    st.builds(lambda parts: "Bearer " + ".".join(parts), st.lists(_segment, min_size=1, max_size=5)),
    st.builds(lambda token: f"Bearer {token}", _structured),
)


def test_authorization_header_fuzz_never_5xx(secured_app: Any, mint: Callable[..., str]) -> None:
    valid = mint(tenant=ALFA)
    paths = [
        (f"/api/v1/tenants/{ALFA}/themes/current", "GET"),
        (f"/api/v1/tenant-metrics/{ALFA}/sc", "POST"),
        ("/api/v1/design-system/stories", "GET"),
    ]
    # Requests through the app's ASGI interface on one event loop, with its lifespan run around them.
    loop = asyncio.new_event_loop()
    lifespan = secured_app.router.lifespan_context(secured_app)
    loop.run_until_complete(lifespan.__aenter__())
    transport = httpx.ASGITransport(app=secured_app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    try:

        @settings(
            max_examples=fuzz_examples(150),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            authorization=st.one_of(
                AUTHORIZATION,
                # Mutations of a valid token: every byte position may change.
                st.builds(
                    lambda i, c: f"Bearer {valid[:i]}{c}{valid[i + 1 :]}",
                    st.integers(0, len(valid) - 1),
                    _VISIBLE,
                ),
            ),
            target=st.sampled_from(paths),
        )
        def run(authorization: str, target: tuple[str, str]) -> None:
            path, method = target
            headers = {"Authorization": authorization.encode("latin-1"), "X-Tenant-Id": ALFA.encode()}
            response = loop.run_until_complete(
                client.request(method, path, headers=headers, json={"samples": []})
            )
            assert response.status_code < 500, (authorization, response.status_code, response.text)
            if response.status_code == 401:
                assert response.headers["www-authenticate"].startswith("Bearer ")

        run()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()
