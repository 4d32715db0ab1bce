"""The runtime stays lean: the app and the CLI entry point load no tooling package, and a tooling verb whose
extra is missing says so in one line (exit 2). The same verbs are run for real in the runtime-only install by
tests/runtime/test_runtime_install.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from foundation.cli import extras
from foundation.cli import perf as perf_cli

ROOT = Path(__file__).resolve().parents[2]
# Installed in this (dev) virtualenv, so their absence from sys.modules is a real check.
TOP_LEVEL = {"locust", "gevent", "matplotlib", "yaml"}
TOOLING_PREFIXES = ("opentelemetry.exporter.", "opentelemetry.proto", "google.protobuf")


def is_tooling(module: str) -> bool:
    return module.split(".")[0] in TOP_LEVEL or module.startswith(TOOLING_PREFIXES)


@pytest.mark.parametrize("module", ["foundation.app", "foundation.cli.main"])
def test_importing_the_runtime_loads_no_tooling_package(module: str) -> None:
    code = (
        f"import json, sys, {module}\n"
        "from foundation.app import create_app\n"
        "from foundation.settings import Settings\n"
        "create_app(Settings(database_url='sqlite+aiosqlite:///:memory:'))\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    offending = [name for name in loaded if is_tooling(name)]
    assert offending == []
    assert "locust" not in loaded and "fastapi" in loaded  # the check looks at the right list


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


@pytest.mark.parametrize("extra", ["ops", "client"])
def test_the_guard_reads_the_extras_of_pyproject(extra: str) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][extra]
    assert {name.lower() for name in extras.extra_distributions(extra)} == _names(declared)
    assert extras.missing_distributions(extra) == []  # the dev install has every extra


def test_a_missing_extra_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = metadata.version

    def version(name: str) -> str:
        if name == "locust":
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(extras.metadata, "version", version)
    root = typer.Typer()
    perf_cli.register(root)
    result = CliRunner().invoke(root, ["perf", "smoke", "--duration", "1s"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: foundation perf smoke needs the [ops] extra (pip install 'iabank-foundation[ops]'); "
        "missing: locust"
    ]


def test_help_works_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extras, "missing_distributions", lambda extra: ["locust"])
    root = typer.Typer()
    perf_cli.register(root)
    result = CliRunner().invoke(root, ["perf", "smoke", "--help"])
    assert result.exit_code == 0 and "--vus" in result.output
