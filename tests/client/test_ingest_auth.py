"""Ingestion against an API with FOUNDATION_AUTH=jwt: keys and tokens from `foundation auth keygen|token`.

A token bound to one tenant cannot write another tenant's samples or stories: the CLI exits 1 with the
API's 403 and nothing is written (the refused request is the first write).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import (
    CLI,
    KINDS,
    Site,
    error_line,
    ingest,
    kind_case,
    lighthouse_copy,
    own_stories,
    recent,
    stamp,
    start_site,
    storybook_copy,
)

pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Path]]:
    directory = tmp_path_factory.mktemp("ingest-secured")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
    exports = cli("auth", "keygen", "--dir", str(directory / "keys"), env=env)
    settings = dict(line.split("=", 1) for line in exports.splitlines() if line.startswith("FOUNDATION_"))
    for site in start_site(directory, **settings):
        yield site, directory / "keys"


def token(site: Site, keys: Path, tenant: str, scopes: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
    env["FOUNDATION_DATABASE_URL"] = site.database_url
    return cli("auth", "token", "--tenant", tenant, "--scopes", scopes, "--dir", str(keys), env=env).strip()


def test_token_of_one_tenant_cannot_write_another(secured: tuple[Site, Path], tmp_path: Path) -> None:
    site, keys = secured
    own, other = site.new_tenant(), site.new_tenant()
    writer = token(site, keys, own, "metrics.write,metrics.read")
    path = lighthouse_copy("dashboard.report.json", tmp_path, 5)

    refused = ingest(
        "lighthouse", path, "--tenant", other, "--token", writer, api=site.url, in_subprocess=True
    )
    line = error_line(refused)
    assert refused.returncode == 1
    assert "HTTP 403 forbidden" in line and "nothing was written" in line
    anonymous = ingest("lighthouse", path, "--tenant", own, api=site.url)
    assert "HTTP 401 unauthenticated" in error_line(anonymous)

    reader = token(site, keys, other, "metrics.read")
    assert site.samples(other, reader) == []
    # The token from the environment, as CI passes it.
    accepted = ingest(
        "lighthouse", path, "--tenant", own, "--json", api=site.url, env={"FOUNDATION_TOKEN": writer}
    )
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["written"]["samples"]["accepted"] == 1
    assert [s["value"] for s in site.samples(own, writer)] == [100.0]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_for_a_tenant_the_token_may_not_write_is_refused_and_writes_nothing(
    secured: tuple[Site, Path], tmp_path: Path, kind: str
) -> None:
    """A token with every write scope, bound to another tenant: the first write is refused (403), the CLI
    exits 1 saying nothing was written, and the tenant's scorecard, samples and stories stay empty."""
    site, keys = secured
    tenant, other = site.new_tenant(), site.new_tenant()
    scopes = "metrics.write,metrics.read,design-system.write,design-system.read"
    others = token(site, keys, other, scopes)
    case = kind_case(kind, tmp_path, tenant)
    refused = ingest(*case.args, "--tenant", tenant, "--token", others, api=site.url)
    line = error_line(refused)
    assert refused.returncode == 1
    assert "HTTP 403 forbidden" in line and "nothing was written" in line, line
    reader = token(site, keys, tenant, scopes)
    assert site.samples(tenant, reader) == [] and own_stories(site, tenant, reader) == []
    assert site.criterion(tenant, case.code, reader)["status"] == "no_data"
    # The tenant's own token writes the same reports.
    accepted = ingest(*case.args, "--tenant", tenant, "--token", reader, api=site.url)
    assert accepted.returncode == 0, accepted.stderr
    assert site.criterion(tenant, case.code, reader)["value"] == case.value


def test_storybook_needs_the_design_system_scope_and_writes_nothing_without_it(
    secured: tuple[Site, Path], tmp_path: Path
) -> None:
    site, keys = secured
    tenant = site.new_tenant()
    path = storybook_copy("index-v5.json", tmp_path, {"tenant-alfa": tenant})
    args = ["storybook", path, "--tenant", tenant, "--collected-at", stamp(recent(3))]
    metrics_only = token(site, keys, tenant, "metrics.write,metrics.read")
    refused = ingest(*args, "--token", metrics_only, api=site.url)
    line = error_line(refused)
    assert "PUT /api/v1/design-system/stories: HTTP 403 forbidden" in line and "nothing was written" in line
    assert site.samples(tenant, metrics_only) == []

    both = token(site, keys, tenant, "metrics.write,metrics.read,design-system.write")
    result = ingest(*args, "--token", both, api=site.url)
    assert result.returncode == 0, result.stderr
    assert "5 stories upserted" in result.stdout
    assert site.criterion(tenant, "SC-002", both)["value"] == 66.666667


def test_a_failure_after_a_write_says_what_was_written_and_a_rerun_completes(
    secured: tuple[Site, Path], tmp_path: Path
) -> None:
    """Stories go in, then the samples POST is refused: the error names the request that did succeed; the
    same command with a sufficient token completes the job, and the stories are not duplicated."""
    site, keys = secured
    tenant = site.new_tenant()
    path = storybook_copy("index-v5.json", tmp_path, {"tenant-alfa": tenant})
    args = ["storybook", path, "--tenant", tenant, "--collected-at", stamp(recent(3))]
    stories_only = token(site, keys, tenant, "design-system.write,design-system.read")
    half = ingest(*args, "--token", stories_only, api=site.url)
    line = error_line(half)
    assert half.returncode == 1
    assert f"POST /api/v1/tenant-metrics/{tenant}/sc: HTTP 403 forbidden" in line
    assert "written before the failure: PUT /api/v1/design-system/stories (5 stories)" in line
    everything = token(
        site, keys, tenant, "design-system.write,design-system.read,metrics.write,metrics.read"
    )
    assert ingest(*args, "--token", everything, api=site.url).returncode == 0
    stories = site.get("/api/v1/design-system/stories", tenant, everything, page_size=100)["data"]
    assert len([s for s in stories if s["tenantId"]]) == 5
    assert len(site.samples(tenant, everything)) == 1
