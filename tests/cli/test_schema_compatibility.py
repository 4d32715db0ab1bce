"""`foundation serve` of this release against a schema a newer release migrated (what an old pod meets when
it restarts during a rollout): it serves when the newer migrations only expanded the schema, and refuses with
one line otherwise. The "newer release" is this release's migrations copied with extra revisions added."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config

from foundation.migrations import runner
from tests.observability.servers import ALFA, running_server, seeded_database, server_env

pytestmark = pytest.mark.integration

NEXT_MIGRATION = '''
"""A later release's migration (test only)."""
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
{declaration}


def upgrade() -> None:
    op.create_table("release_{revision}_notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("release_{revision}_notes")
'''


def newer_release(tmp: Path, *expand_only: bool) -> Path:
    """This release's migrations plus one revision per flag, after the current head."""
    location = tmp / "newer-migrations"
    shutil.copytree(runner.MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    down = runner.script_directory().get_current_head()
    for number, flag in enumerate(expand_only, start=9001):
        declaration = "EXPAND_ONLY = True" if flag else ""
        text = NEXT_MIGRATION.format(revision=number, down=down, declaration=declaration)
        (location / "versions" / f"{number}_next.py").write_text(text)
        down = str(number)
    return location


def upgrade_with(location: Path, url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


def serve_refusal(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command_line = [sys.executable, "-m", "foundation.cli.main", "serve", "--port", "1"]
    return subprocess.run(command_line, env=env, capture_output=True, text=True, timeout=120)


def test_an_expand_only_newer_schema_is_served_with_a_warning(tmp_path: Path) -> None:
    url = seeded_database(tmp_path / "db")
    upgrade_with(newer_release(tmp_path, True, True), url)
    env = server_env(url, tmp_path / "var")
    with running_server(env, tmp_path / "logs") as server:
        theme = httpx.get(
            f"{server.url}/api/v1/tenants/{ALFA}/themes/current", headers={"X-Tenant-Id": "tenant-alfa"}
        )
        assert theme.status_code == 200, theme.text
        warning = server.stderr.read_text()
    head = runner.script_directory().get_current_head()
    assert f"warning: the database schema (9002) is newer than this release's ({head})" in warning


@pytest.mark.parametrize("flags", [(False,), (True, False)], ids=["breaking", "expand-then-breaking"])
def test_a_newer_schema_that_is_not_expand_only_is_refused_in_one_line(
    tmp_path: Path, flags: tuple[bool, ...]
) -> None:
    url = seeded_database(tmp_path / "db")
    upgrade_with(newer_release(tmp_path, *flags), url)
    refused = serve_refusal(server_env(url, tmp_path / "var"))
    assert refused.returncode == 1
    last = str(9000 + len(flags))
    oldest = last  # the last migration is not expand-only: only its own release may serve it
    head = runner.script_directory().get_current_head()
    assert refused.stderr.strip().splitlines() == [
        f"error: refusing to start: the database schema ({last}) is newer than this release's ({head}) and "
        f"not declared compatible with it (oldest release that may serve it: {oldest}): deploy a newer "
        "release, or restore the database to before the migration"
    ]


def test_an_older_schema_is_refused_until_upgraded(tmp_path: Path) -> None:
    url = seeded_database(tmp_path / "db")
    runner_config = runner.alembic_config(url)
    command.downgrade(runner_config, "-1")
    refused = serve_refusal(server_env(url, tmp_path / "var"))
    assert refused.returncode == 1
    assert "is older than this release's" in refused.stderr
    assert "run `foundation db upgrade` first" in refused.stderr
