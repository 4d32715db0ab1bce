"""`foundation auth keygen|token`: a local signing key and tokens to exercise the secured API.

* ``keygen`` writes ``private.pem`` (mode 0600) and ``jwks.json`` (the public key, ``kid`` = RFC 7638
  thumbprint) and prints the ``FOUNDATION_*`` lines to export. ``--rotate`` replaces the private key and keeps
  the previous public keys in ``jwks.json`` so tokens already issued stay valid until they expire.
* ``token`` mints a client-credentials-style JWT signed with that key: ``tenant_id`` = the tenant's UUID
  (``--tenant`` accepts the UUID or the slug, resolved in the database), or ``--platform`` for a token
  without a tenant and with the ``platform.admin`` scope. Only the token is printed on stdout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import typer

from foundation.cli._common import run_db, settings
from foundation.cli.errors import fail

auth_app = typer.Typer(
    help="Local signing keys and bearer tokens (FOUNDATION_AUTH=jwt).", no_args_is_help=True
)

PRIVATE_KEY_FILE = "private.pem"
JWKS_FILE = "jwks.json"
ALGORITHMS = ("ES256", "RS256")
MAX_KEPT_KEYS = 3


def register(root: typer.Typer) -> None:
    root.add_typer(auth_app, name="auth")


def _default_dir() -> Path:
    return settings().var_dir / "auth"


@auth_app.command("keygen")
def keygen(
    directory: Path | None = typer.Option(None, "--dir", help="Output folder [default: <var_dir>/auth]."),
    alg: str = typer.Option("ES256", "--alg", help="ES256 (P-256) or RS256 (RSA 3072)."),
    rotate: bool = typer.Option(False, help="New key; keep the previous public keys in jwks.json."),
    force: bool = typer.Option(False, help="Replace an existing key and key set."),
) -> None:
    """Write a private key and its JWKS; print the FOUNDATION_* lines to export."""
    alg = alg.strip().upper()
    if alg not in ALGORITHMS:
        fail(f"--alg must be one of {', '.join(ALGORITHMS)} (got {alg!r})")
    config = settings()
    target = directory or _default_dir()
    private_path, jwks_path = target / PRIVATE_KEY_FILE, target / JWKS_FILE
    if private_path.exists() and not (rotate or force):
        fail(f"{private_path} already exists (use --rotate to add a new key, --force to replace it)")
    previous: list[dict[str, Any]] = []
    if rotate and jwks_path.exists():
        try:
            previous = [
                k
                for k in json.loads(jwks_path.read_text(encoding="utf-8")).get("keys", [])
                if isinstance(k, dict)
            ]
        except (OSError, ValueError, AttributeError) as exc:
            fail(f"cannot read {jwks_path}: {exc}")
    private_key = _generate(alg)
    public_jwk = public_jwk_of(private_key)
    keys = [public_jwk, *[k for k in previous if k.get("kid") != public_jwk["kid"]]][:MAX_KEPT_KEYS]
    try:
        target.mkdir(parents=True, exist_ok=True)
        _write_private(private_path, _pem(private_key))
        _write_atomic(jwks_path, (json.dumps({"keys": keys}, indent=2) + "\n").encode("utf-8"), 0o644)
    except OSError as exc:
        fail(f"cannot write to {target}: {exc.strerror or exc}")
    typer.echo(f"# wrote {private_path} (0600) and {jwks_path} (kid {public_jwk['kid']}, {alg})", err=True)
    typer.echo("FOUNDATION_AUTH=jwt")
    typer.echo(f"FOUNDATION_AUTH_JWKS={jwks_path.resolve()}")
    typer.echo(f"FOUNDATION_AUTH_ISSUER={config.auth_issuer}")
    typer.echo(f"FOUNDATION_AUTH_AUDIENCE={config.auth_audience}")


@auth_app.command("token")
def token(
    tenant: str | None = typer.Option(None, "--tenant", help="Tenant UUID or slug (claim tenant_id)."),
    scopes: str = typer.Option(
        ..., "--scopes", help="Comma-separated scopes, e.g. tokens.read,metrics.read."
    ),
    ttl: int = typer.Option(3600, "--ttl", min=1, max=7 * 24 * 3600, help="Lifetime in seconds."),
    directory: Path | None = typer.Option(None, "--dir", help="Key folder [default: <var_dir>/auth]."),
    platform: bool = typer.Option(
        False, "--platform", help="No tenant_id claim; adds the platform.admin scope (any tenant)."
    ),
    subject: str = typer.Option("foundation-cli", "--subject", help="Claim sub (the client)."),
) -> None:
    """Mint a bearer token signed with the local key; prints only the token."""
    import jwt

    from foundation.auth.scopes import PLATFORM_SCOPE, SCOPES

    requested = [item.strip() for item in scopes.split(",") if item.strip()]
    unknown = sorted(set(requested) - SCOPES.keys())
    if unknown:
        fail(f"unknown scopes {', '.join(unknown)} (known: {', '.join(SCOPES)})")
    if platform and tenant:
        fail("--platform tokens are not bound to a tenant: drop --tenant")
    if not platform and not tenant:
        fail("--tenant is required (or --platform for a token that may act on any tenant)")
    if platform and PLATFORM_SCOPE not in requested:
        requested.append(PLATFORM_SCOPE)
    if not platform and PLATFORM_SCOPE in requested:
        fail(f"{PLATFORM_SCOPE} is only for tokens without a tenant: use --platform")
    config = settings()
    key_path = (directory or _default_dir()) / PRIVATE_KEY_FILE
    private_key, alg = _load_private(key_path)
    claims: dict[str, Any] = {"sub": subject, "client_id": subject, "scope": " ".join(requested)}
    if tenant:
        claims["tenant_id"] = _resolve_tenant(config, tenant)
    now = int(time.time())
    claims.update(
        iss=config.auth_issuer,
        aud=config.auth_audience,
        iat=now,
        nbf=now,
        exp=now + ttl,
        jti=str(uuid.uuid4()),
    )
    kid = public_jwk_of(private_key)["kid"]
    typer.echo(jwt.encode(claims, private_key, algorithm=alg, headers={"kid": kid, "typ": "JWT"}))


def _resolve_tenant(config: Any, identifier: str) -> str:
    from foundation.db import Database
    from foundation.tenancy.service import TenantDirectory

    url = config.database_url

    async def action() -> Any:
        db = Database(url, settings=config)
        try:
            return await TenantDirectory(db).find(identifier)
        finally:
            await db.dispose()

    found = run_db(action, url)
    if found is None:
        fail(f"tenant {identifier!r} does not exist (see `foundation tenants list`)")
    return str(found.id)


# --- keys -----------------------------------------------------------------------------------------------


def _generate(alg: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _pem(private_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private(path: Path) -> tuple[Any, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc} (run `foundation auth keygen` first)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        fail(f"{path} is not an unencrypted PEM private key")
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key, "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS256"
    fail(f"{path} holds an unsupported key type (ES256 P-256 or RSA only)")


def _b64(number: int, length: int | None = None) -> str:
    raw = number.to_bytes(length or max(1, (number.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk_of(private_key: Any) -> dict[str, str]:
    """Public JWK with ``kid`` = RFC 7638 thumbprint, ``use: sig`` and ``alg``."""
    from cryptography.hazmat.primitives.asymmetric import ec

    public = private_key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        required = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x, 32), "y": _b64(numbers.y, 32)}
        alg = "ES256"
    else:
        numbers = public.public_numbers()
        required = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
        alg = "RS256"
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode("utf-8")
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode("ascii")
    return {**required, "kid": kid, "use": "sig", "alg": alg}


def _write_private(path: Path, data: bytes) -> None:
    _write_atomic(path, data, 0o600)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
