"""Profile refusals (create_app, `foundation serve`), /health, and the keygen + token CLI round trip."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from foundation.admission.pipeline import AdmissionPipeline
from foundation.app import create_app
from foundation.auth.authenticator import InsecureConfiguration
from foundation.settings import Settings
from tests.auth.conftest import KeySet, bearer
from tests.conftest import ALFA, BETA

MEMORY_DB = "sqlite+aiosqlite:///:memory:"


def foundation_cmd() -> list[str]:
    script = Path(sys.executable).with_name("foundation")
    if script.exists():
        return [str(script)]
    found = shutil.which("foundation")
    assert found, "the foundation console script is not installed"
    return [found]


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*foundation_cmd(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
    env.update(values)
    return env


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth": "off"}, "requires FOUNDATION_AUTH=jwt"),
        (
            {"auth": "jwt", "auth_jwks": "/nonexistent/jwks.json", "auth_hs256_secret": "s" * 40},
            "refuses FOUNDATION_AUTH_HS256_SECRET",
        ),
        ({"auth": "off", "auth_hs256_secret": "s" * 40}, "requires FOUNDATION_AUTH=jwt"),
    ],
)
def test_production_refuses_insecure_settings(overrides: dict[str, str], message: str) -> None:
    settings = Settings(database_url=MEMORY_DB, profile="production", tracing_enabled=False, **overrides)
    with pytest.raises(InsecureConfiguration, match=message):
        create_app(settings)


def test_jwt_needs_a_key_source_and_a_long_secret() -> None:
    with pytest.raises(InsecureConfiguration, match="needs FOUNDATION_AUTH_JWKS"):
        create_app(Settings(database_url=MEMORY_DB, auth="jwt", tracing_enabled=False))
    with pytest.raises(InsecureConfiguration, match="at least 32 bytes"):
        create_app(
            Settings(database_url=MEMORY_DB, auth="jwt", auth_hs256_secret="short", tracing_enabled=False)
        )


def test_production_with_jwks_starts(keys: KeySet) -> None:
    app = create_app(
        Settings(
            database_url=MEMORY_DB,
            profile="production",
            auth="jwt",
            auth_jwks=str(keys.jwks_path),
            tracing_enabled=False,
        )
    )
    assert type(app.state.services[AdmissionPipeline].authenticator).__name__ == "JwtAuthenticator"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FOUNDATION_PROFILE": "production"}, "requires FOUNDATION_AUTH=jwt"),
        (
            {
                "FOUNDATION_PROFILE": "production",
                "FOUNDATION_AUTH": "jwt",
                "FOUNDATION_AUTH_HS256_SECRET": "s" * 40,
            },
            "HS256_SECRET",
        ),
        (
            {"FOUNDATION_AUTH": "jwt", "FOUNDATION_AUTH_JWKS": "/nonexistent/jwks.json"},
            "cannot load the JWKS",
        ),
    ],
)
@pytest.mark.backend_independent  # `foundation serve` refuses before it opens any database
def test_serve_preflight_refuses_with_one_error_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = run_cli(["serve", "--port", "1"], clean_env(**env, FOUNDATION_VAR_DIR=str(tmp_path)), tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: refusing to start:"), lines
    assert message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


async def test_health_reports_auth_off_only(
    make_client: Callable[..., httpx.AsyncClient], secured: Callable[..., httpx.AsyncClient]
) -> None:
    async with make_client(profile="local") as client:
        assert (await client.get("/health")).json() == {"status": "ok", "auth": "off"}
    async with secured(profile="local") as client:
        assert (await client.get("/health")).json() == {"status": "ok"}


# The CLI runs on its own SQLite file; the app part (one read with the minted tokens) is what the JWT suites
# check on every backend.
@pytest.mark.backend_independent
def test_keygen_and_token_round_trip(tmp_path: Path, make_client: Callable[..., httpx.AsyncClient]) -> None:
    import asyncio

    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = clean_env(FOUNDATION_DATABASE_URL=db_url, FOUNDATION_VAR_DIR=str(tmp_path / "var"))
    for args in (["db", "upgrade"], ["seed"]):
        result = run_cli(args, env, tmp_path)
        assert result.returncode == 0, result.stderr
    key_dir = tmp_path / "keys"
    result = run_cli(["auth", "keygen", "--dir", str(key_dir), "--alg", "ES256"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    exports = dict(
        line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("FOUNDATION_")
    )
    assert exports["FOUNDATION_AUTH"] == "jwt"
    assert Path(exports["FOUNDATION_AUTH_JWKS"]) == (key_dir / "jwks.json").resolve()
    assert {"FOUNDATION_AUTH_ISSUER", "FOUNDATION_AUTH_AUDIENCE"} <= exports.keys()
    assert stat.S_IMODE((key_dir / "private.pem").stat().st_mode) == 0o600
    jwks = json.loads((key_dir / "jwks.json").read_text())
    assert len(jwks["keys"]) == 1 and "d" not in jwks["keys"][0]

    # A second keygen refuses to overwrite; --rotate keeps the previous public key.
    again = run_cli(["auth", "keygen", "--dir", str(key_dir)], env, tmp_path)
    assert again.returncode == 1 and again.stderr.startswith("error: ")
    old_token = run_cli(
        ["auth", "token", "--tenant", "tenant-alfa", "--scopes", "tokens.read", "--dir", str(key_dir)],
        env,
        tmp_path,
    )
    assert old_token.returncode == 0, old_token.stderr
    rotated = run_cli(["auth", "keygen", "--dir", str(key_dir), "--rotate", "--alg", "RS256"], env, tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert len(json.loads((key_dir / "jwks.json").read_text())["keys"]) == 2

    minted = run_cli(
        [
            "auth",
            "token",
            "--tenant",
            ALFA,
            "--scopes",
            "tokens.read,metrics.read",
            "--ttl",
            "600",
            "--dir",
            str(key_dir),
        ],
        env,
        tmp_path,
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    assert token.count(".") == 2

    for args, fragment in (
        (["auth", "token", "--tenant", "no-such-tenant", "--scopes", "tokens.read"], "does not exist"),
        (["auth", "token", "--tenant", "tenant-alfa", "--scopes", "tokens.read,root"], "unknown scopes"),
        (["auth", "token", "--scopes", "tokens.read"], "--tenant is required"),
    ):
        failed = run_cli([*args, "--dir", str(key_dir)], env, tmp_path)
        assert failed.returncode == 1
        assert failed.stderr.strip().startswith("error: ") and fragment in failed.stderr, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr

    async def use() -> None:
        overrides = {
            "auth": "jwt",
            "auth_jwks": exports["FOUNDATION_AUTH_JWKS"],
            "auth_issuer": exports["FOUNDATION_AUTH_ISSUER"],
            "auth_audience": exports["FOUNDATION_AUTH_AUDIENCE"],
            "tracing_enabled": False,
        }
        async with make_client(**overrides) as client:
            for value in (token, old_token.stdout.strip()):
                response = await client.get(
                    f"/api/v1/tenants/{ALFA}/themes/current", headers=bearer(value, **{"X-Tenant-Id": ALFA})
                )
                assert response.status_code == 200, response.text
            response = await client.get(
                f"/api/v1/tenants/{BETA}/themes/current", headers=bearer(token, **{"X-Tenant-Id": BETA})
            )
            assert response.status_code == 403

    asyncio.run(use())
