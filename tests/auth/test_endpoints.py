"""Every secured endpoint × every way a token can be wrong (FOUNDATION_AUTH=jwt).

One test per endpoint runs all the negative cases against the same app (they change nothing) and ends
with the successful call, so the matrix stays cheap on a small machine.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from foundation.seed import demo_theme
from tests.auth.conftest import ALL_SCOPES, AUDIENCE, ISSUER, KeySet, bearer, claims
from tests.conftest import ALFA, BETA, DEFAULT

SCAFFOLD_BODY: dict[str, Any] = {
    "featureSlug": "auth-matrix",
    "initiatedBy": "11111111-1111-4111-8111-111111111111",
    "slices": [{"slice": "features", "files": [{"path": "features/auth/index.ts", "checksum": "a" * 64}]}],
    "lintCommitHash": "b" * 40,
    "scReferences": ["@SC-001"],
    "durationMs": 60000,
}
SAMPLES_BODY = {
    "samples": [
        {"code": "SC-002", "value": 97.5, "collectedAt": "2024-05-01T10:00:00Z", "source": "lighthouse"}
    ]
}


def story(tenant: str | None) -> dict[str, Any]:
    return {
        "tenantId": tenant,
        "componentId": "button",
        "storyId": f"button--auth-{tenant or 'global'}",
        "tags": ["core"],
        "coveragePercent": 90,
        "axeStatus": "pass",
        "chromaticBuild": "build-1",
        "storybookUrl": "https://storybook.iabank.local/?path=/story/button",
    }


@dataclass
class Endpoint:
    name: str
    method: str
    path: str  # {t}: the tenant
    scope: str
    success: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    path_tenant: bool = True

    def url(self, tenant: str = ALFA) -> str:
        return self.path.format(t=tenant)


ENDPOINTS = [
    Endpoint("theme-get", "GET", "/api/v1/tenants/{t}/themes/current", "tokens.read", 200),
    Endpoint(
        "theme-put",
        "PUT",
        "/api/v1/tenants/{t}/themes/2.0.0",
        "tokens.write",
        201,
        body={"categories": demo_theme("#0F5132")},
    ),
    Endpoint(
        "scaffold-post",
        "POST",
        "/api/v1/tenants/{t}/features/scaffold",
        "scaffolding.write",
        201,
        body=SCAFFOLD_BODY,
        headers={"Idempotency-Key": "auth-matrix-key"},
    ),
    Endpoint("scaffold-get", "GET", "/api/v1/tenants/{t}/features/scaffold/auth-matrix", "metrics.read", 200),
    Endpoint("metrics-get", "GET", "/api/v1/tenant-metrics/{t}/sc", "metrics.read", 200),
    Endpoint(
        "metrics-post", "POST", "/api/v1/tenant-metrics/{t}/sc", "metrics.write", 201, body=SAMPLES_BODY
    ),
    Endpoint(
        "stories-get", "GET", "/api/v1/design-system/stories", "design-system.read", 200, path_tenant=False
    ),
    Endpoint(
        "stories-put",
        "PUT",
        "/api/v1/design-system/stories",
        "design-system.write",
        200,
        body={"stories": [story(ALFA)]},
        path_tenant=False,
    ),
]


async def call(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    token: str | None,
    *,
    tenant: str = ALFA,
    header_tenant: str | None = ALFA,
    body: Any = None,
    authorization: str | None = None,
) -> httpx.Response:
    headers = dict(endpoint.headers)
    if header_tenant is not None:
        headers["X-Tenant-Id"] = header_tenant
    if authorization is not None:
        headers["Authorization"] = authorization
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    payload = body if body is not None else endpoint.body
    return await client.request(endpoint.method, endpoint.url(tenant), headers=headers, json=payload)


def unsigned(claim_set: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claim_set)}."


def hs256_with_public_key(keys: KeySet, claim_set: dict[str, Any]) -> str:
    """The classic confusion attack: HMAC keyed with the server's public key PEM."""
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = {"alg": "HS256", "typ": "JWT", "kid": keys.es256_kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claim_set).encode())}"
    signature = hmac.new(keys.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def assert_problem(response: httpx.Response, status: int, title: str, case: str) -> None:
    assert response.status_code == status, f"{case}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), case
    assert response.json()["title"] == title, case
    if status == 401:
        challenge = response.headers.get("www-authenticate", "")
        assert challenge.startswith('Bearer realm="iabank-foundation"'), f"{case}: {challenge!r}"


async def prepare(client: httpx.AsyncClient, endpoint: Endpoint, mint: Callable[..., str]) -> None:
    if endpoint.name == "scaffold-get":
        scaffold = ENDPOINTS[2]
        response = await call(client, scaffold, mint(tenant=ALFA, scopes=["scaffolding.write"]))
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_endpoint_security_matrix(
    endpoint: Endpoint, secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str], keys: KeySet
) -> None:
    now = int(time.time())
    async with secured() as client:
        await prepare(client, endpoint, mint)

        # 401 without a token: a bare challenge, no error attribute.
        response = await call(client, endpoint, None)
        assert_problem(response, 401, "unauthenticated", "no token")
        assert "error=" not in response.headers["www-authenticate"]
        response = await call(client, endpoint, None, authorization="Basic dXNlcjpwYXNz")
        assert_problem(response, 401, "unauthenticated", "basic scheme")

        invalid: dict[str, str] = {
            "expired": mint(tenant=ALFA, exp=now - 120, iat=now - 700, nbf=now - 700),
            "not yet valid": mint(tenant=ALFA, nbf=now + 600, iat=now, exp=now + 1200),
            "issued in the future": mint(tenant=ALFA, iat=now + 600, nbf=None, exp=now + 1200),
            "wrong audience": mint(tenant=ALFA, aud="another-api"),
            "wrong issuer": mint(tenant=ALFA, iss="https://evil.example/"),
            "missing exp": mint(tenant=ALFA, exp=None),
            "bad signature": _tampered(mint(tenant=ALFA)),
            "foreign key": jwt.encode(
                claims(tenant=ALFA), _other_key(), algorithm="ES256", headers={"kid": keys.es256_kid}
            ),
            "unknown kid": mint(tenant=ALFA, headers={"kid": "no-such-key"}),
            "alg none": unsigned(claims(tenant=ALFA)),
            "hs256 with public key": hs256_with_public_key(keys, claims(tenant=ALFA)),
            "es256 header on rsa key": jwt.encode(
                claims(tenant=ALFA), keys.rs256, algorithm="RS256", headers={"kid": keys.es256_kid}
            ),
            "tenant_id not a uuid": mint(tenant="tenant-alfa"),
            "garbage": "not-a-jwt",
        }
        for case, token in invalid.items():
            response = await call(client, endpoint, token)
            assert_problem(response, 401, "unauthenticated", case)
            assert 'error="invalid_token"' in response.headers["www-authenticate"], case

        # 403: valid token without the endpoint's scope.
        others = [
            scope for scope in ALL_SCOPES if scope != endpoint.scope and not _alternative(endpoint, scope)
        ]
        response = await call(client, endpoint, mint(tenant=ALFA, scopes=others))
        assert_problem(response, 403, "forbidden", "missing scope")
        assert 'error="insufficient_scope"' in response.headers.get("www-authenticate", "")

        # 403: token bound to tenant B acting on tenant A (path and X-Tenant-Id name A; UUID or slug).
        beta_token = mint(tenant=BETA, scopes=[endpoint.scope])
        response = await call(client, endpoint, beta_token)
        assert_problem(response, 403, "forbidden", "tenant B on A (uuid)")
        response = await call(client, endpoint, beta_token, tenant="tenant-alfa", header_tenant="tenant-alfa")
        assert_problem(response, 403, "forbidden", "tenant B on A (slug)")
        if endpoint.path_tenant:
            # The header naming the token's own tenant does not help: mismatch is reported first (400).
            response = await call(client, endpoint, beta_token, header_tenant=BETA)
            assert_problem(response, 400, "tenant_header_mismatch", "path A, header B, token B")
        else:
            response = await call(client, endpoint, beta_token, header_tenant=None)
            assert_problem(response, 403, "forbidden", "stories without header, token of B")

        # 403: a token without tenant_id needs platform.admin.
        response = await call(client, endpoint, mint(scopes=[endpoint.scope]))
        assert_problem(response, 403, "forbidden", "unbound token without platform.admin")

        # Success: the right tenant and scope (RS256 for variety on odd endpoints).
        alg = "RS256" if ENDPOINTS.index(endpoint) % 2 else "ES256"
        response = await call(client, endpoint, mint(tenant=ALFA, scopes=[endpoint.scope], alg=alg))
        assert response.status_code == endpoint.success, response.text


async def test_platform_token_acts_on_any_tenant(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    platform = mint(scopes=["tokens.read", "design-system.read", "design-system.write", "platform.admin"])
    async with secured() as client:
        for tenant in (ALFA, BETA, DEFAULT):
            response = await call(client, ENDPOINTS[0], platform, tenant=tenant, header_tenant=tenant)
            assert response.status_code == 200, response.text
        response = await call(client, ENDPOINTS[6], platform, header_tenant=None)
        assert response.status_code == 200, response.text
        response = await call(
            client, ENDPOINTS[7], platform, header_tenant=None, body={"stories": [story(None), story(BETA)]}
        )
        assert response.status_code == 200, response.text


async def test_stories_put_items_of_other_tenants_are_forbidden(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    stories_put = ENDPOINTS[7]
    alfa = mint(tenant=ALFA, scopes=["design-system.write"])
    async with secured() as client:
        # No header: every item must belong to the token's tenant.
        response = await call(client, stories_put, alfa, header_tenant=None, body={"stories": [story(BETA)]})
        assert_problem(response, 403, "forbidden", "item of another tenant")
        response = await call(
            client,
            stories_put,
            alfa,
            header_tenant=None,
            body={"stories": [story(ALFA), story("tenant-beta")]},
        )
        assert_problem(response, 403, "forbidden", "one item of another tenant (slug)")
        # Global stories are visible to every tenant: only platform tokens may write them.
        response = await call(client, stories_put, alfa, header_tenant=None, body={"stories": [story(None)]})
        assert_problem(response, 403, "forbidden", "global item")
        response = await call(client, stories_put, alfa, header_tenant=None, body={"stories": [story(ALFA)]})
        assert response.status_code == 200, response.text
        # Unknown tenants stay the route's own answer (404 listing the items), not a 403.
        unknown = str(uuid.uuid4())
        response = await call(
            client, stories_put, alfa, header_tenant=None, body={"stories": [story(unknown)]}
        )
        assert_problem(response, 404, "tenant_not_found", "unknown item tenant")


async def test_scope_claim_forms(secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]) -> None:
    theme = ENDPOINTS[0]
    async with secured() as client:
        as_list = mint(tenant=ALFA, scope=None, scp=["tokens.read"])
        assert (await call(client, theme, as_list)).status_code == 200
        as_string = mint(tenant=ALFA, scope=None, scp="metrics.read tokens.read")
        assert (await call(client, theme, as_string)).status_code == 200
        malformed = mint(tenant=ALFA, scope=None, scp=[1, 2])
        assert (await call(client, theme, malformed)).status_code == 401
        none = mint(tenant=ALFA, scope=None)
        assert (await call(client, theme, none)).status_code == 403


async def test_order_401_before_tenant_404(secured: Callable[..., httpx.AsyncClient]) -> None:
    unknown = str(uuid.uuid4())
    async with secured() as client:
        response = await client.get(
            f"/api/v1/tenants/{unknown}/themes/current", headers={"X-Tenant-Id": unknown}
        )
        assert response.status_code == 401


async def test_order_404_and_400_before_binding_403(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    token = mint(tenant=BETA, scopes=["tokens.read"])
    unknown = str(uuid.uuid4())
    async with secured() as client:
        response = await client.get(f"/api/v1/tenants/{unknown}/themes/current", headers=bearer(token))
        assert response.status_code == 404
        response = await client.get(f"/api/v1/tenants/{ALFA}/themes/current", headers=bearer(token))
        assert response.status_code == 400  # missing header


async def test_forbidden_requests_do_not_spend_the_tenants_budget(
    secured: Callable[..., httpx.AsyncClient], mint: Callable[..., str]
) -> None:
    intruder = mint(tenant=BETA, scopes=["tokens.read"])
    owner = mint(tenant=ALFA, scopes=["tokens.read"])
    url = f"/api/v1/tenants/{ALFA}/themes/current"
    async with secured(rate_limit_enabled=True, rate_limit_theme_read_per_minute=2) as client:
        for _ in range(5):
            response = await client.get(url, headers=bearer(intruder, **{"X-Tenant-Id": ALFA}))
            assert response.status_code == 403
        response = await client.get(url, headers=bearer(owner, **{"X-Tenant-Id": ALFA}))
        assert response.status_code == 200
        assert response.headers["RateLimit-Remaining"] == "1"


async def test_hs256_secret_for_local_use(
    make_client: Callable[..., httpx.AsyncClient], keys: KeySet
) -> None:
    secret = "s" * 40
    token = jwt.encode(claims(tenant=ALFA, scopes=["tokens.read"]), secret, algorithm="HS256")
    url = f"/api/v1/tenants/{ALFA}/themes/current"
    async with make_client(
        auth="jwt", auth_hs256_secret=secret, auth_issuer=ISSUER, auth_audience=AUDIENCE, profile="local"
    ) as client:
        assert (await client.get(url, headers=bearer(token, **{"X-Tenant-Id": ALFA}))).status_code == 200
        wrong = jwt.encode(claims(tenant=ALFA, scopes=["tokens.read"]), "t" * 40, algorithm="HS256")
        assert (await client.get(url, headers=bearer(wrong, **{"X-Tenant-Id": ALFA}))).status_code == 401
        # No JWKS configured: asymmetric tokens are refused, not checked with the secret.
        es = jwt.encode(claims(tenant=ALFA, scopes=["tokens.read"]), keys.es256, algorithm="ES256")
        assert (await client.get(url, headers=bearer(es, **{"X-Tenant-Id": ALFA}))).status_code == 401


async def test_hs256_refused_without_secret(secured: Callable[..., httpx.AsyncClient]) -> None:
    token = jwt.encode(claims(tenant=ALFA, scopes=["tokens.read"]), "s" * 40, algorithm="HS256")
    async with secured() as client:
        response = await client.get(
            f"/api/v1/tenants/{ALFA}/themes/current", headers=bearer(token, **{"X-Tenant-Id": ALFA})
        )
        assert response.status_code == 401


def _alternative(endpoint: Endpoint, scope: str) -> bool:
    """scaffold GET accepts scaffolding.write or metrics.read."""
    return endpoint.name == "scaffold-get" and scope in {"scaffolding.write", "metrics.read"}


_OTHER_KEY: list[Any] = []


def _other_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    if not _OTHER_KEY:
        _OTHER_KEY.append(ec.generate_private_key(ec.SECP256R1()))
    return _OTHER_KEY[0]


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = "A" if signature[10] != "A" else "B"
    return f"{head}.{payload}.{signature[:10]}{flipped}{signature[11:]}"
