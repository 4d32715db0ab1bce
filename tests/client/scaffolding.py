"""Fixtures and helpers of the scaffolding client tests (pytest finds the fixtures through
tests/client/conftest.py): a real API server process (seeded SQLite, stopped by process group), real git
repositories in temporary directories, and the `foundation scaffold` CLI run in-process (typer's runner: the
CLI's own code, without paying an interpreter start and Copier import per call) or as the installed console
script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from foundation.cli.main import root as cli_root
from tests.observability.servers import Server, free_port, running_server, seeded_database, server_env

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Dev Eloper",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev Eloper",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


@dataclass
class Api:
    """A `foundation serve` process that can be stopped and started again on the same port and database."""

    database_url: str
    var: Path
    logs: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    _stack: ExitStack | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self._stack = ExitStack()
        environment = server_env(self.database_url, self.var, **self.env)
        return self._stack.enter_context(running_server(environment, self.logs, port=self.port))

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    @contextmanager
    def down(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()


@pytest.fixture(scope="session", autouse=True)
def template_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The template repository cache of the whole session, instead of the user's cache directory."""
    path = tmp_path_factory.mktemp("template-cache")
    previous = os.environ.get("FOUNDATION_TEMPLATE_CACHE")
    os.environ["FOUNDATION_TEMPLATE_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("FOUNDATION_TEMPLATE_CACHE", None)
    else:
        os.environ["FOUNDATION_TEMPLATE_CACHE"] = previous


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("scaffold-api")
    handle = Api(seeded_database(root / "db"), root / "var", root / "logs", free_port())
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch", "main")
    git(path, "config", "user.name", "Dev Eloper")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "commit.gpgsign", "false")
    (path / "README.md").write_text("# web\n", encoding="utf-8")
    git(path, "add", "README.md")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "web")


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def scaffold(*args: str, api_url: str | None = None, **env: str) -> Run:
    """`foundation scaffold ...` in-process, with a small retry budget unless the test gives one."""
    # Blank OTEL endpoints count as unset (foundation.observability.otlp_env): no export unless a test asks.
    quiet = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}
    values = {"FOUNDATION_SCAFFOLD_RETRY_SECONDS": "2", **quiet, **GIT_IDENTITY, **env}
    if api_url is not None:
        values["FOUNDATION_API_URL"] = api_url
    result = CliRunner().invoke(cli_root, ["scaffold", *args], env=values, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def scaffold_process(*args: str, api_url: str, timeout: float = 300, **env: str) -> Run:
    """The installed `foundation` console script in its own process."""
    values = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))},
        "FOUNDATION_API_URL": api_url,
        "FOUNDATION_SCAFFOLD_RETRY_SECONDS": "2",
        "FOUNDATION_TEMPLATE_CACHE": os.environ.get("FOUNDATION_TEMPLATE_CACHE", ""),
        **GIT_IDENTITY,
        **env,
    }
    executable = Path(sys.executable).with_name("foundation")
    result = subprocess.run(
        [str(executable), "scaffold", *args], capture_output=True, text=True, env=values, timeout=timeout
    )
    return Run(result.returncode, result.stdout, result.stderr)
