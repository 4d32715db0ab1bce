"""The API as the DAST target: a real process in the production profile with JWT authentication.

A fresh SQLite database (migrated and seeded with the demo tenants and data by the CLI) and a fresh ES256 key
(``foundation auth keygen``) under the evidence folder; ``foundation serve`` with ``FOUNDATION_PROFILE=
production``, ``FOUNDATION_AUTH=jwt`` and the key's JWKS. Rate limits stay on but are raised so that fuzzing
reaches the handlers instead of 429s. Tokens: ``foundation auth token`` (platform, tenant-alfa, tenant-beta),
plus an expired one and one signed by a key the server does not know (minted here with the same claims).
The server runs in its own session and is stopped by its PID (process group), always.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundation.ops.perf.server import RAISED_RATE_LIMIT, RATE_LIMIT_VARIABLES, wait_ready
from foundation.ops.procs import free_port, stop_process_group
from foundation.ops.stack.config import cli_command

ALFA = "00000000-0000-0000-0000-000000000001"
BETA = "00000000-0000-0000-0000-000000000002"
ALL_SCOPES = (
    "tokens.read",
    "tokens.write",
    "scaffolding.write",
    "metrics.read",
    "metrics.write",
    "design-system.read",
    "design-system.write",
)
DEFAULT_APP = "foundation.app:create_app"


class TargetError(RuntimeError):
    pass


@dataclass
class Target:
    base_url: str
    tokens: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log_file: Any = field(default=None, repr=False)

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process_group(process, timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _environment(workdir: Path, jwks: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
    env.update(
        {
            "FOUNDATION_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'dast.db'}",
            "FOUNDATION_VAR_DIR": str(workdir / "var"),
            "FOUNDATION_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if jwks is not None:
        env.update({"FOUNDATION_AUTH": "jwt", "FOUNDATION_AUTH_JWKS": str(jwks)})
    return env


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(cli_command(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise TargetError(f"`foundation {' '.join(args[:2])}` failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


def _mint(private_pem: Path, kid: str, claims: dict[str, Any], foreign: bool = False) -> str:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if foreign
        else serialization.load_pem_private_key(private_pem.read_bytes(), password=None)
    )
    return str(jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid}))


def _extra_tokens(auth: Path, issuer: str, audience: str) -> dict[str, str]:
    jwks = json.loads((auth / "jwks.json").read_text(encoding="utf-8"))
    kid = jwks["keys"][0]["kid"]
    now = int(time.time())
    base = {"iss": issuer, "aud": audience, "sub": "dast", "scope": " ".join(ALL_SCOPES), "tenant_id": ALFA}
    expired = {**base, "iat": now - 7200, "exp": now - 3600}
    valid = {**base, "iat": now, "exp": now + 3600}
    return {
        "expired": _mint(auth / "private.pem", kid, expired),
        "foreign-key": _mint(auth / "private.pem", kid, valid, foreign=True),
    }


def start(workdir: Path, app: str = DEFAULT_APP, ready_timeout: float = 90.0) -> Target:
    """Prepare the database and keys under ``workdir`` and start the production-profile server."""
    workdir = workdir.resolve()  # the CLI steps run with workdir as their cwd
    workdir.mkdir(parents=True, exist_ok=True)
    auth = workdir / "auth"
    env = _environment(workdir, None)
    _cli(["db", "upgrade"], env, workdir)
    _cli(["seed", "--demo-data"], env, workdir)
    exports = _cli(["auth", "keygen", "--dir", str(auth), "--force"], env, workdir)
    values = dict(line.split("=", 1) for line in exports.splitlines() if "=" in line)
    env = _environment(workdir, auth / "jwks.json")
    scopes = ",".join(ALL_SCOPES)
    tokens = {
        "platform": _cli(
            ["auth", "token", "--dir", str(auth), "--platform", "--scopes", scopes], env, workdir
        ),
        "alfa": _cli(
            ["auth", "token", "--dir", str(auth), "--tenant", ALFA, "--scopes", scopes], env, workdir
        ),
        "beta": _cli(
            ["auth", "token", "--dir", str(auth), "--tenant", BETA, "--scopes", scopes], env, workdir
        ),
        **_extra_tokens(auth, values["FOUNDATION_AUTH_ISSUER"], values["FOUNDATION_AUTH_AUDIENCE"]),
    }
    server_env = {
        **env,
        "FOUNDATION_PROFILE": "production",
        **dict.fromkeys(RATE_LIMIT_VARIABLES, RAISED_RATE_LIMIT),
    }
    port = free_port()
    if app == DEFAULT_APP:
        cmd = cli_command("serve", "--host", "127.0.0.1", "--port", str(port))
    else:  # a test's fixture app (same settings, served by uvicorn directly), importable from the cwd
        server_env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), server_env.get("PYTHONPATH")]))
        cmd = [
            cli_command()[0],
            "-m",
            "uvicorn",
            "--factory",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    log = workdir / "server.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        cmd, env=server_env, cwd=workdir, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    target = Target(f"http://127.0.0.1:{port}", tokens, log, process, handle)
    if not wait_ready(f"{target.base_url}/health/ready", ready_timeout, alive=process):
        target.stop()
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise TargetError(f"the API did not become ready: {' | '.join(tail) or 'no output'}")
    return target
