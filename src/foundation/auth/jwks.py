"""The verification keys: a JWKS read from a file path or an http(s) URL.

* The set is cached for ``auth_jwks_cache_seconds``; after that the next verification refetches it (a failed
  refetch keeps serving the previous set and logs a warning, so a flapping identity provider does not lock
  everybody out).
* A token whose ``kid`` is not in the set triggers one refetch (key rotation), at most once per
  ``auth_jwks_refetch_seconds``: a flood of tokens with random ``kid`` values cannot hammer the provider.
* Only public signature keys are kept: EC P-256 (ES256) and RSA ≥ 2048 bits (RS256). The key's type decides
  its algorithm, so a token can never pick how its signature is checked. Symmetric (``oct``) keys and keys
  for encryption (``use: enc``) are ignored.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK
from jwt.exceptions import PyJWKError

log = structlog.get_logger(component="foundation.auth.jwks")

MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048


class JwksUnavailable(Exception):
    """The key set could not be loaded and there is no previous copy to fall back on."""


@dataclass(frozen=True)
class VerificationKey:
    kid: str | None
    algorithm: str  # "ES256" or "RS256"
    key: Any  # a cryptography public key


def algorithm_for(jwk: dict[str, Any]) -> str | None:
    """The only algorithm a JWK may verify, decided by its key type (None: not usable for tokens)."""
    kty = jwk.get("kty")
    if jwk.get("use", "sig") != "sig":
        return None
    if kty == "EC" and jwk.get("crv") == "P-256":
        expected = "ES256"
    elif kty == "RSA":
        expected = "RS256"
    else:
        return None
    declared = jwk.get("alg")
    if declared is not None and declared != expected:
        return None
    return expected


def parse_jwks(document: bytes | str) -> dict[str | None, VerificationKey]:
    """Keys by ``kid``; unusable entries are skipped, a malformed document raises ``ValueError``."""
    data = json.loads(document)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError('a JWKS must be a JSON object with a "keys" array')
    keys: dict[str | None, VerificationKey] = {}
    for entry in data["keys"]:
        if not isinstance(entry, dict):
            continue
        algorithm = algorithm_for(entry)
        if algorithm is None or "d" in entry:  # never accept private key material as a verification key
            continue
        try:
            key = PyJWK(entry, algorithm=algorithm).key
        except (PyJWKError, ValueError, TypeError):
            continue
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
            continue
        kid = entry.get("kid")
        kid = kid if isinstance(kid, str) else None
        keys[kid] = VerificationKey(kid, algorithm, key)
    return keys


class JwksSource:
    def __init__(
        self,
        location: str,
        *,
        cache_seconds: float,
        refetch_seconds: float,
        http_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.location = location
        self.cache_seconds = cache_seconds
        self.refetch_seconds = refetch_seconds
        self.http_timeout = http_timeout
        self._clock = clock
        self._keys: dict[str | None, VerificationKey] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    def check_readable(self) -> None:
        """Startup check for file sets: raises ``JwksUnavailable`` with a one-line reason."""
        if self.is_url:
            return
        try:
            parse_jwks(self._read_file())
        except (OSError, ValueError) as exc:
            raise JwksUnavailable(f"cannot load the JWKS {self.location}: {_reason(exc)}") from exc

    async def key_for(self, kid: str | None, algorithm: str) -> VerificationKey | None:
        """The key to verify a token with this ``kid`` and ``alg``; None when there is none."""
        keys = await self._current()
        found = _pick(keys, kid, algorithm)
        if found is None and kid is not None and kid not in keys:
            keys = await self._refresh_for_unknown_kid(kid)
            found = _pick(keys, kid, algorithm)
        return found

    async def _current(self) -> dict[str | None, VerificationKey]:
        if self._keys is not None and self._clock() - self._fetched_at < self.cache_seconds:
            return self._keys
        async with self._lock:
            if self._keys is not None and self._clock() - self._fetched_at < self.cache_seconds:
                return self._keys
            return await self._fetch(stale_ok=True)

    async def _refresh_for_unknown_kid(self, kid: str) -> dict[str | None, VerificationKey]:
        async with self._lock:
            assert self._keys is not None  # noqa: S101  # type narrowing, checked by the caller
            if kid in self._keys or self._clock() - self._fetched_at < self.refetch_seconds:
                return self._keys
            return await self._fetch(stale_ok=True)

    async def _fetch(self, *, stale_ok: bool) -> dict[str | None, VerificationKey]:
        self.fetches += 1
        try:
            if self.is_url:
                raw = await self._download()
            else:
                raw = await asyncio.to_thread(self._read_file)
            keys = parse_jwks(raw)
        except (OSError, ValueError, httpx.HTTPError) as exc:
            self._fetched_at = self._clock()  # do not retry on every request either
            if stale_ok and self._keys is not None:
                log.warning("jwks_refresh_failed", location=self._safe_location(), reason=_reason(exc))
                return self._keys
            log.error("jwks_unavailable", location=self._safe_location(), reason=_reason(exc))
            raise JwksUnavailable("the token signing keys are unavailable") from exc
        self._keys = keys
        self._fetched_at = self._clock()
        log.info("jwks_loaded", location=self._safe_location(), keys=len(keys))
        return keys

    def _read_file(self) -> bytes:
        path = Path(self.location).expanduser()
        if path.stat().st_size > MAX_JWKS_BYTES:
            raise ValueError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
        return path.read_bytes()

    async def _download(self) -> bytes:
        accept = {"Accept": "application/json"}
        async with (
            httpx.AsyncClient(timeout=self.http_timeout, follow_redirects=False) as client,
            client.stream("GET", self.location, headers=accept) as response,
        ):
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
            return bytes(body)

    def _safe_location(self) -> str:
        """The location without query string or credentials (a URL could embed a secret)."""
        if not self.is_url:
            return self.location
        parsed = httpx.URL(self.location)
        return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))


def _pick(keys: dict[str | None, VerificationKey], kid: str | None, algorithm: str) -> VerificationKey | None:
    if kid is not None:
        key = keys.get(kid)
    else:
        # No kid: only unambiguous when the set holds exactly one key of this algorithm.
        candidates = [k for k in keys.values() if k.algorithm == algorithm]
        key = candidates[0] if len(candidates) == 1 else None
    if key is None or key.algorithm != algorithm:
        return None
    return key


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200] or type(exc).__name__
