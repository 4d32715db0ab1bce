"""JWKS loading: file and URL sources, caching, key rotation and the refetch throttle."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from foundation.admission.pipeline import AdmissionPipeline
from foundation.auth.jwks import JwksSource, JwksUnavailable, parse_jwks
from foundation.cli.auth import public_jwk_of
from tests.auth.conftest import KeySet, bearer, claims
from tests.conftest import ALFA

THEME = f"/api/v1/tenants/{ALFA}/themes/current"


def signed(key: Any, alg: str = "ES256") -> str:
    kid = public_jwk_of(key)["kid"]
    return jwt.encode(claims(tenant=ALFA, scopes=["tokens.read"]), key, algorithm=alg, headers={"kid": kid})


class JwksServer:
    """Serves a mutable JWKS document on 127.0.0.1 (ephemeral port); counts requests."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.requests = 0
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = json.dumps(owner.document).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/.well-known/jwks.json"

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


async def test_rotation_in_file_is_picked_up_on_unknown_kid(
    secured: Callable[..., httpx.AsyncClient], keys: KeySet
) -> None:
    new_key = ec.generate_private_key(ec.SECP256R1())
    async with secured(auth_jwks_cache_seconds=3600, auth_jwks_refetch_seconds=0) as client:
        headers = {"X-Tenant-Id": ALFA}
        assert (await client.get(THEME, headers=bearer(signed(keys.es256), **headers))).status_code == 200
        # The new key is not published yet: refused.
        assert (await client.get(THEME, headers=bearer(signed(new_key), **headers))).status_code == 401
        # Rotation: the provider publishes the new key next to the old one.
        keys.write(new_key, keys.es256)
        assert (await client.get(THEME, headers=bearer(signed(new_key), **headers))).status_code == 200
        assert (await client.get(THEME, headers=bearer(signed(keys.es256), **headers))).status_code == 200
        # The old key is retired: once the cache is refreshed, its tokens fail.
        keys.write(new_key)
        source = client._transport.app.state.services[AdmissionPipeline].authenticator.verifier.jwks  # type: ignore[attr-defined]
        source.cache_seconds = 0
        assert (await client.get(THEME, headers=bearer(signed(keys.es256), **headers))).status_code == 401


async def test_unknown_kid_refetch_is_throttled(
    secured: Callable[..., httpx.AsyncClient], keys: KeySet
) -> None:
    async with secured(auth_jwks_cache_seconds=3600, auth_jwks_refetch_seconds=3600) as client:
        source = client._transport.app.state.services[AdmissionPipeline].authenticator.verifier.jwks  # type: ignore[attr-defined]
        headers = {"X-Tenant-Id": ALFA}
        assert (await client.get(THEME, headers=bearer(signed(keys.es256), **headers))).status_code == 200
        assert source.fetches == 1
        stranger = ec.generate_private_key(ec.SECP256R1())
        for _ in range(20):
            assert (await client.get(THEME, headers=bearer(signed(stranger), **headers))).status_code == 401
        assert source.fetches == 1  # random kids cannot make the server hammer the key provider


async def test_jwks_from_url_with_rotation(
    secured: Callable[..., httpx.AsyncClient], keys: KeySet, jwks_server: JwksServer
) -> None:
    jwks_server.document = {"keys": [public_jwk_of(keys.rs256)]}
    new_key = rsa.generate_private_key(65537, 2048)
    async with secured(
        auth_jwks=jwks_server.url, auth_jwks_cache_seconds=3600, auth_jwks_refetch_seconds=0
    ) as client:
        headers = {"X-Tenant-Id": ALFA}
        for _ in range(3):
            response = await client.get(THEME, headers=bearer(signed(keys.rs256, "RS256"), **headers))
            assert response.status_code == 200, response.text
        assert jwks_server.requests == 1  # cached
        jwks_server.document = {"keys": [public_jwk_of(new_key), public_jwk_of(keys.rs256)]}
        response = await client.get(THEME, headers=bearer(signed(new_key, "RS256"), **headers))
        assert response.status_code == 200, response.text
        assert jwks_server.requests == 2


async def test_url_outage_keeps_the_cached_keys(keys: KeySet, jwks_server: JwksServer) -> None:
    jwks_server.document = {"keys": [public_jwk_of(keys.es256)]}
    clock = [0.0]
    source = JwksSource(jwks_server.url, cache_seconds=10, refetch_seconds=0, clock=lambda: clock[0])
    assert await source.key_for(keys.es256_kid, "ES256") is not None
    jwks_server.status = 500
    clock[0] = 100.0
    assert await source.key_for(keys.es256_kid, "ES256") is not None  # stale copy still used
    fresh = JwksSource(jwks_server.url, cache_seconds=10, refetch_seconds=0)
    with pytest.raises(JwksUnavailable):
        await fresh.key_for(keys.es256_kid, "ES256")


async def test_unavailable_jwks_is_a_503_not_a_500(
    secured: Callable[..., httpx.AsyncClient], keys: KeySet, jwks_server: JwksServer
) -> None:
    jwks_server.status = 503
    async with secured(auth_jwks=jwks_server.url) as client:
        response = await client.get(THEME, headers=bearer(signed(keys.es256), **{"X-Tenant-Id": ALFA}))
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        # Requests without a token never touch the key set.
        assert (await client.get(THEME, headers={"X-Tenant-Id": ALFA})).status_code == 401


def test_parse_jwks_keeps_only_public_signature_keys(keys: KeySet) -> None:
    small_rsa = rsa.generate_private_key(65537, 1024)  # noqa: S505  # the weak key under test
    es = public_jwk_of(keys.es256)
    private_es = {**es, "kid": "with-private", "d": "AAAA"}
    document = {
        "keys": [
            es,
            public_jwk_of(keys.rs256),
            {**public_jwk_of(small_rsa), "kid": "small"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric"},
            {**es, "kid": "enc", "use": "enc"},
            {**es, "kid": "mislabelled", "alg": "HS256"},
            private_es,
            "junk",
        ]
    }
    parsed = parse_jwks(json.dumps(document))
    assert set(parsed) == {keys.es256_kid, keys.rs256_kid}
    assert parsed[keys.es256_kid].algorithm == "ES256"
    assert parsed[keys.rs256_kid].algorithm == "RS256"
    with pytest.raises(ValueError):
        parse_jwks("[]")
