"""Key material and token minting for the authentication tests.

``keys`` writes an ES256 key set (and an RS256 key in the same JWKS) to ``tmp_path``; ``mint`` signs tokens
with any claims/headers; ``secured`` builds a client against the app with ``FOUNDATION_AUTH=jwt``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from foundation.cli.auth import public_jwk_of

ISSUER = "https://auth.test.local/"
AUDIENCE = "iabank-foundation-test"
ALL_SCOPES = (
    "tokens.read",
    "tokens.write",
    "scaffolding.write",
    "metrics.read",
    "metrics.write",
    "design-system.read",
    "design-system.write",
)


@dataclass
class KeySet:
    jwks_path: Path
    es256: ec.EllipticCurvePrivateKey
    rs256: rsa.RSAPrivateKey
    es256_kid: str
    rs256_kid: str

    def public_pem(self, which: str = "es256") -> bytes:
        key = self.es256 if which == "es256" else self.rs256
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def write(self, *private_keys: Any) -> None:
        keys = [public_jwk_of(key) for key in private_keys]
        self.jwks_path.write_text(json.dumps({"keys": keys}), encoding="utf-8")


@pytest.fixture(scope="session")
def _key_material() -> tuple[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]:
    return ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)


@pytest.fixture
def keys(tmp_path: Path, _key_material: tuple[Any, Any]) -> KeySet:
    es256, rs256 = _key_material
    key_set = KeySet(
        tmp_path / "jwks.json", es256, rs256, public_jwk_of(es256)["kid"], public_jwk_of(rs256)["kid"]
    )
    key_set.write(es256, rs256)
    return key_set


def claims(
    *,
    scopes: tuple[str, ...] | list[str] = ALL_SCOPES,
    tenant: str | None = None,
    lifetime: int = 600,
    **overrides: Any,
) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "client-test",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        "scope": " ".join(scopes),
    }
    if tenant is not None:
        values["tenant_id"] = tenant
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


@pytest.fixture
def mint(keys: KeySet) -> Callable[..., str]:
    def factory(
        *, alg: str = "ES256", key: Any = None, headers: dict[str, Any] | None = None, **claim_args: Any
    ) -> str:
        if key is None:
            key = keys.es256 if alg == "ES256" else keys.rs256
        kid = keys.es256_kid if alg == "ES256" else keys.rs256_kid
        return jwt.encode(claims(**claim_args), key, algorithm=alg, headers={"kid": kid, **(headers or {})})

    return factory


@pytest.fixture
def secured(make_client: Callable[..., httpx.AsyncClient], keys: KeySet) -> Callable[..., httpx.AsyncClient]:
    def factory(**overrides: Any) -> httpx.AsyncClient:
        values: dict[str, Any] = {
            "auth": "jwt",
            "auth_jwks": str(keys.jwks_path),
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
            "auth_leeway_seconds": 5,
            "rate_limit_enabled": False,
            "tracing_enabled": False,
        }
        values.update(overrides)
        return make_client(**values)

    return factory


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}
