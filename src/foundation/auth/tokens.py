"""Bearer JWT verification (PyJWT).

* Algorithms: ES256 and RS256 with keys from the JWKS; HS256 only with ``auth_hs256_secret`` outside the
  production profile. ``none`` and every other algorithm are refused before any key is looked at.
* No HS/RS confusion: an asymmetric token is checked only with a JWKS key whose *type* fixes the algorithm,
  and HS256 only with the configured shared secret — never with a public key.
* Claims: ``iss`` = ``auth_issuer``, ``aud`` contains ``auth_audience``, ``exp`` and ``iat`` required,
  ``nbf`` honoured when present; all with ``auth_leeway_seconds`` of clock skew.
* Scopes come from ``scope`` (space-separated string) or ``scp`` (list of strings, or a string).
* ``tenant_id`` (optional) must be a UUID: the token may act only on that tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
)

from foundation.auth.jwks import JwksSource

ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "RS256"})
MAX_TOKEN_LENGTH = 8192
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud")


class TokenError(Exception):
    """The token is not acceptable; the message is safe to show to the caller."""


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    tenant_id: uuid.UUID | None
    client_id: str | None = None


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: float,
        jwks: JwksSource | None = None,
        hs256_secret: str | None = None,
    ) -> None:
        if jwks is None and not hs256_secret:
            raise ValueError("a JWKS or an HS256 secret is required to verify tokens")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self.jwks = jwks
        self._secret = hs256_secret.encode("utf-8") if hs256_secret else None

    @property
    def algorithms(self) -> frozenset[str]:
        allowed = set(ASYMMETRIC_ALGORITHMS if self.jwks is not None else ())
        if self._secret is not None:
            allowed.add("HS256")
        return frozenset(allowed)

    async def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise TokenError("the token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError as exc:
            raise TokenError("the token is malformed") from exc
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise TokenError("the token's signing algorithm is not accepted")
        if "crit" in header:
            raise TokenError("the token uses unsupported critical header parameters")
        key: Any
        if algorithm == "HS256":
            key = self._secret
        else:
            assert self.jwks is not None  # noqa: S101  # type narrowing, checked by the caller
            kid = header.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise TokenError("the token is malformed")
            found = await self.jwks.key_for(kid, algorithm)
            if found is None:
                raise TokenError("the token's signing key is unknown")
            key = found.key
        claims = self._decode(token, key, algorithm)
        return principal_from(claims)

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_aud": True,
                    "verify_iss": True,
                },
            )
        except ExpiredSignatureError as exc:
            raise TokenError("the token has expired") from exc
        except ImmatureSignatureError as exc:
            raise TokenError("the token is not valid yet") from exc
        except InvalidAudienceError as exc:
            raise TokenError("the token is not meant for this API (audience)") from exc
        except InvalidIssuerError as exc:
            raise TokenError("the token's issuer is not trusted") from exc
        except InvalidSignatureError as exc:
            raise TokenError("the token's signature is invalid") from exc
        except MissingRequiredClaimError as exc:
            raise TokenError(f"the token lacks the {exc.claim!r} claim") from exc
        except InvalidIssuedAtError as exc:
            raise TokenError("the token's iat claim is invalid") from exc
        except InvalidTokenError as exc:
            raise TokenError("the token is invalid") from exc
        except (ValueError, TypeError) as exc:  # odd key/claim shapes inside the library
            raise TokenError("the token is invalid") from exc
        return claims


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, str):
        return frozenset(scp.split())
    if isinstance(scp, list) and all(isinstance(item, str) for item in scp):
        return frozenset(scp)
    if scope is not None or scp is not None:
        raise TokenError("the token's scope claim is malformed")
    return frozenset()


def principal_from(claims: dict[str, Any]) -> Principal:
    scopes = scopes_of(claims)
    raw_tenant = claims.get("tenant_id")
    tenant_id: uuid.UUID | None = None
    if raw_tenant is not None:
        if not isinstance(raw_tenant, str):
            raise TokenError("the token's tenant_id claim must be a UUID")
        try:
            tenant_id = uuid.UUID(raw_tenant)
        except ValueError as exc:
            raise TokenError("the token's tenant_id claim must be a UUID") from exc
    client_id = claims.get("client_id") or claims.get("azp")
    client_id = client_id if isinstance(client_id, str) else None
    subject = claims.get("sub")
    subject = subject if isinstance(subject, str) and subject else (client_id or "unknown")
    return Principal(subject=subject, scopes=scopes, tenant_id=tenant_id, client_id=client_id)
