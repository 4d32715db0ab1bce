"""The production install: requirements/runtime.txt and the project wheel (pip install --no-deps .).

This is what the image carries. `make venv-runtime` builds it in .venv-runtime (the locked dependencies
cached, the project reinstalled from a fresh wheel each run, so the package data it ships is what is
tested); the tests drive its own `foundation` and `python`, never this virtualenv's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.observability.servers import running_server, server_env
from tests.requirements import runtime_bin

pytestmark = [pytest.mark.runtime_install, pytest.mark.integration]

ALFA = "00000000-0000-0000-0000-000000000001"
# What the [ops] and [client] extras bring and the runtime must not: load generation, charts, the OTLP
# protobuf exporter (gevent and its kin come with locust).
EXTRA_ONLY = {
    "locust",
    "gevent",
    "geventhttpclient",
    "matplotlib",
    "numpy",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-proto",
    "protobuf",
}


def runtime(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(runtime_bin() / "foundation"), *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def runtime_python(code: str) -> str:
    result = subprocess.run(
        [str(runtime_bin() / "python"), "-c", code],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FOUNDATION_", "OTEL_", "VIRTUAL_ENV", "PYTHONPATH"))
    }


def test_the_runtime_install_carries_no_operator_or_client_packages() -> None:
    names = set(
        json.loads(
            runtime_python(
                "import importlib.metadata as m, json;"
                "print(json.dumps(sorted({d.metadata['Name'].lower() for d in m.distributions()})))"
            )
        )
    )
    assert {"iabank-foundation", "fastapi", "uvicorn", "sqlalchemy"} <= names
    assert not names & EXTRA_ONLY, sorted(names & EXTRA_ONLY)
    # A wheel install, not a checkout on sys.path: the package (and its data files) live in the venv.
    location = Path(runtime_python("import foundation; print(foundation.__file__)").strip())
    assert location.is_relative_to(runtime_bin().parent.resolve()), location


def test_upgrade_seed_openapi_and_serve(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'foundation.db'}"
    env = server_env(url, tmp_path / "var", FOUNDATION_TRACING_ENABLED="false")
    for step in (("db", "upgrade"), ("seed",)):
        result = runtime(*step, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    document = runtime("openapi", cwd=tmp_path, env=env)
    assert document.returncode == 0, document.stderr
    openapi = json.loads(document.stdout)
    assert openapi["openapi"].startswith("3.1")
    assert "/api/v1/tenants/{tenantId}/themes/current" in openapi["paths"]

    with running_server(env, tmp_path / "logs", python=str(runtime_bin() / "python")) as server:
        assert httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200
        theme = httpx.get(
            f"{server.url}/api/v1/tenants/{ALFA}/themes/current",
            headers={"X-Tenant-Id": "tenant-alfa"},
            timeout=10,
        )
        assert theme.status_code == 200, theme.text
        assert theme.json()["tenantId"] == ALFA and theme.headers["ETag"]


@pytest.mark.parametrize(
    ("verb", "extra"),
    [
        (("perf", "smoke"), "ops"),
        (("stack", "up"), "ops"),
        (("collector",), "ops"),
        (("observe", "verify"), "ops"),
        (("validate",), "ops"),
        (("otel",), "client"),
    ],
)
def test_tooling_verbs_name_the_extra_they_need(verb: tuple[str, ...], extra: str, tmp_path: Path) -> None:
    result = runtime(*verb, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = f"error: foundation {' '.join(verb)} needs the [{extra}] extra"
    assert lines[0].startswith(f"{expected} (pip install 'iabank-foundation[{extra}]'); missing: "), lines[0]
    assert result.stdout == "" and not any(tmp_path.iterdir())  # refused before doing anything
