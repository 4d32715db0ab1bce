"""The `foundation` CLI verbs as real subprocesses: success output, one clear error line on failure."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from foundation.ops.procs import free_port

CLI = [sys.executable, "-m", "foundation.cli.main"]
TIMEOUT = 120


def run(
    *args: str, db: Path | str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    url = db if isinstance(db, str) else f"sqlite+aiosqlite:///{db}"
    env = {
        **os.environ,
        "FOUNDATION_DATABASE_URL": url,
        "FOUNDATION_MIGRATION_DATABASE_URL": url,
        "FOUNDATION_PROFILE": "test",
        "FOUNDATION_LOG_JSON": "true",
        **(extra_env or {}),
    }
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=db_dir(db)
    )


def db_dir(db: Path | str) -> str:
    """Run where no project `.env` can change the settings: the nearest existing parent of the database."""
    path = db if isinstance(db, Path) else Path(tempfile.gettempdir())
    while not path.is_dir():
        path = path.parent
    return str(path)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `db upgrade` through the CLI per session; each test gets a copy (the CLI start-up is seconds)."""
    db = tmp_path_factory.mktemp("migrated") / "foundation.db"
    result = run("db", "upgrade", db=db)
    assert result.returncode == 0, result.stderr
    assert "revision" in result.stdout
    return db


@pytest.fixture(scope="session")
def seeded_template(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = copy_database(migrated_template, tmp_path_factory.mktemp("seeded"))
    result = run("seed", db=db)
    assert result.returncode == 0, result.stderr
    return db


def copy_database(template: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):  # a database left in WAL mode is the file plus its log
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copy(source, directory / source.name)
    return directory / template.name


@pytest.fixture
def migrated(migrated_template: Path, tmp_path: Path) -> Path:
    return copy_database(migrated_template, tmp_path / "var")


@pytest.fixture
def seeded(seeded_template: Path, tmp_path: Path) -> Path:
    return copy_database(seeded_template, tmp_path / "var")


def test_tenants_create_and_list(migrated: Path) -> None:
    created = run(
        "tenants",
        "create",
        "--slug",
        "tenant-gamma",
        "--name",
        "Tenant Gamma",
        "--status",
        "production",
        db=migrated,
    )
    assert created.returncode == 0, created.stderr
    assert "tenant-gamma" in created.stdout
    fixed = run(
        "tenants",
        "create",
        "--slug",
        "tenant-delta",
        "--name",
        "Delta",
        "--id",
        "00000000-0000-0000-0000-00000000000d",
        db=migrated,
    )
    assert fixed.returncode == 0, fixed.stderr
    listed = run("tenants", "list", db=migrated)
    assert listed.returncode == 0, listed.stderr
    assert "tenant-gamma" in listed.stdout and "tenant-delta" in listed.stdout
    assert "00000000-0000-0000-0000-00000000000d" in listed.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--slug", "Bad Slug", "--name", "X"],
        ["--slug", "x" * 33, "--name", "X"],
        ["--slug", "ok-slug", "--name", "X", "--status", "beta"],
        ["--slug", "ok-slug", "--name", "X", "--id", "not-a-uuid"],
        ["--slug", "ok-slug", "--name", "   "],
    ],
)
def test_tenants_create_rejects_bad_input(migrated: Path, args: list[str]) -> None:
    line = error_line(run("tenants", "create", *args, db=migrated))
    assert len(line) < 300


def test_tenants_create_duplicate(migrated: Path) -> None:
    assert run("tenants", "create", "--slug", "dup", "--name", "Dup", db=migrated).returncode == 0
    assert "dup" in error_line(run("tenants", "create", "--slug", "dup", "--name", "Again", db=migrated))
    assert run("seed", db=migrated).returncode == 0
    error_line(
        run(
            "tenants",
            "create",
            "--slug",
            "another",
            "--name",
            "O",
            "--id",
            "00000000-0000-0000-0000-000000000001",
            db=migrated,
        )
    )


def test_seed_is_idempotent_and_reports_clashes(migrated: Path) -> None:
    first = run("seed", "--demo-data", db=migrated)
    assert first.returncode == 0, first.stderr
    assert "3 tenants" in first.stdout
    again = run("seed", db=migrated)
    assert again.returncode == 0 and "0 tenants" in again.stdout


def test_seed_with_taken_demo_id_is_one_line(migrated: Path) -> None:
    taken = run(
        "tenants",
        "create",
        "--slug",
        "squatter",
        "--name",
        "S",
        "--id",
        "00000000-0000-0000-0000-000000000000",
        db=migrated,
    )
    assert taken.returncode == 0
    assert "tenant-default" in error_line(run("seed", db=migrated))


def test_themes_publish(seeded: Path, tmp_path: Path) -> None:
    theme = tmp_path / "theme.json"
    theme.write_text(
        json.dumps(
            {
                "version": "2.0.0",
                "categories": {
                    "foundation": {"color.brand.primary": "#0F5132", "color.brand.on-primary": "#FFFFFF"}
                },
            }
        )
    )
    first = run("themes", "publish", "tenant-alfa", str(theme), "--current", db=seeded)
    assert first.returncode == 0, first.stderr
    assert "2.0.0" in first.stdout and "created" in first.stdout and "current=True" in first.stdout
    again = run("themes", "publish", "tenant-alfa", str(theme), "--current", db=seeded)
    assert again.returncode == 0 and "unchanged" in again.stdout
    theme.write_text(json.dumps({"version": "2.0.0", "categories": {"foundation": {"space.md": "8px"}}}))
    assert "2.0.0" in error_line(run("themes", "publish", "tenant-alfa", str(theme), db=seeded))


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        json.dumps({"categories": {}}),
        json.dumps({"version": "v1", "categories": {}}),
        json.dumps({"version": "1.0.1\n", "categories": {}}),
        json.dumps({"version": "3.0.0", "categories": {"foundation": {"bad name": "#fff"}}}),
        json.dumps({"version": "3.0.0", "categories": {"nope": {}}}),
    ],
)
def test_themes_publish_bad_file(seeded: Path, tmp_path: Path, content: str) -> None:
    theme = tmp_path / "bad.json"
    theme.write_text(content)
    error_line(run("themes", "publish", "tenant-alfa", str(theme), db=seeded))


def test_themes_publish_missing_file_and_unknown_tenant(migrated: Path, tmp_path: Path) -> None:
    error_line(run("themes", "publish", "tenant-alfa", str(tmp_path / "absent.json"), db=migrated))
    theme = tmp_path / "theme.json"
    theme.write_text(json.dumps({"version": "1.0.0", "categories": {}}))
    assert "tenant-nope" in error_line(run("themes", "publish", "tenant-nope", str(theme), db=migrated))


def test_openapi_output(tmp_path: Path) -> None:
    target = tmp_path / "out" / "openapi.json"
    result = run("openapi", "--output", str(target), db=tmp_path / "unused.db")
    assert result.returncode == 0, result.stderr
    document = json.loads(target.read_text())
    assert document["openapi"].startswith("3.1.")
    assert "/api/v1/tenants/{tenantId}/features/scaffold" in document["paths"]
    printed = run("openapi", db=tmp_path / "unused.db")
    assert json.loads(printed.stdout) == document


def test_openapi_unwritable_output(tmp_path: Path) -> None:
    error_line(run("openapi", "--output", "/proc/nope/openapi.json", db=tmp_path / "unused.db"))


def test_db_upgrade_unwritable_path(tmp_path: Path) -> None:
    result = run("db", "upgrade", db="sqlite+aiosqlite:////proc/nope/x.db")
    assert "/proc/nope" in error_line(result)


def test_serve_unmigrated_database(tmp_path: Path) -> None:
    line = error_line(run("serve", "--port", str(free_port()), db=tmp_path / "empty.db"))
    assert "db upgrade" in line


def test_serve_port_taken(migrated: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = error_line(run("serve", "--host", "127.0.0.1", "--port", str(port), db=migrated))
    assert str(port) in line
