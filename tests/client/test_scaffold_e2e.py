"""The SC-001 chain of issue #16 end to end: a real API process, a real git repository, the real CLI.

generate → files on disk match the registered checksums → lintCommitHash is HEAD → a re-run replays → other
files under the same slug conflict → API down: spooled → API up: sync registers → CI events linted, tested,
published → the SC-001 sample is the minutes from initiatedAt to the publish event, once in the tenant's
metrics and once in the histogram.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.client.scaffolding import Api, git, make_repo, scaffold, scaffold_process
from tests.observability.servers import sample_value, scrape

pytestmark = pytest.mark.integration
ALFA = "00000000-0000-0000-0000-000000000001"


def registered_payload(api: Api, slug: str) -> dict[str, Any]:
    """What the server stored for this registration (its database, read directly)."""
    path = api.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as connection:
        [(payload,)] = connection.execute(
            "SELECT payload FROM scaffold_registrations WHERE feature_slug = ?", (slug,)
        ).fetchall()
    return json.loads(payload)  # type: ignore[no-any-return]


def registration(api: Api, slug: str) -> dict[str, Any]:
    response = httpx.get(
        f"{api.url}/api/v1/tenants/tenant-alfa/features/scaffold/{slug}", headers={"X-Tenant-Id": ALFA}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_generate_register_replay_conflict(api: Api, tmp_path: Path) -> None:
    web = make_repo(tmp_path / "web")
    first = scaffold_process(
        "new", "loan-offers", "--tenant", "tenant-alfa", "--root", str(web), "--json", api_url=api.url
    )
    assert first.exit_code == 0, first.stderr
    report = first.json()
    assert report["outcome"] == "created" and report["tenantId"] == ALFA
    for step in ("template", "lint", "commit", "register"):
        assert any(line.startswith(step) and line.endswith(" ms)") for line in first.stderr.splitlines()), (
            step
        )
    assert "lint     skipped (no lint command configured)" in first.stderr
    assert report["lint"] == "skipped"
    assert set(report["timings"]) == {"templateMs", "lintMs", "commitMs", "registerMs"}

    # The checksums are those of the bytes on disk, and they are what the server stored.
    on_disk = [
        {
            "slice": f["slice"],
            "path": f["path"],
            "checksum": hashlib.sha256((web / f["path"]).read_bytes()).hexdigest(),
        }
        for f in report["files"]
    ]
    assert report["files"] == on_disk and len(on_disk) == 11
    assert {f["slice"] for f in on_disk} == {"pages", "features", "entities", "shared"}
    stored = registered_payload(api, "loan-offers")
    assert sorted((f["path"], f["checksum"]) for s in stored["slices"] for f in s["files"]) == sorted(
        (f["path"], f["checksum"]) for f in on_disk
    )
    assert report["lintCommitHash"] == git(web, "rev-parse", "HEAD") == stored["lintCommitHash"]
    assert git(web, "status", "--porcelain") == ""  # spool, cache and template repository are ignored
    answers = yaml.safe_load((web / ".foundation/scaffolds/loan-offers.copier-answers.yml").read_text())
    assert answers["started_at"] == stored["startedAt"] and answers["_commit"] == "v1.0.0"
    assert registration(api, "loan-offers")["initiatedAt"] == answers["started_at"]

    again = scaffold(
        "new",
        "loan-offers",
        "--tenant",
        "tenant-alfa",
        "--root",
        str(web),
        "--force",
        "--json",
        api_url=api.url,
    )
    assert again.exit_code == 0, again.stderr
    assert again.json()["outcome"] == "replayed"
    assert again.json()["scaffoldId"] == report["scaffoldId"]
    assert again.json()["lintCommitHash"] == report["lintCommitHash"]

    # Other files under the same slug: from another repository, refused before anything is written...
    other = make_repo(tmp_path / "other")
    refused = scaffold(
        "new", "loan-offers", "--tenant", "tenant-alfa", "--root", str(other), "--json", api_url=api.url
    )
    assert refused.exit_code == 4, refused.stderr
    assert refused.json()["outcome"] == "conflict"
    assert not (other / "src").exists() and git(other, "status", "--porcelain") == ""
    # ...and from this one, regenerated elsewhere with --force: the API answers 409 with the Problem.
    moved = scaffold(
        "new",
        "loan-offers",
        "--tenant",
        "tenant-alfa",
        "--root",
        str(web),
        "--src",
        "app",
        "--force",
        "--json",
        api_url=api.url,
    )
    assert moved.exit_code == 4, moved.stderr
    assert moved.json()["outcome"] == "conflict"
    assert moved.json()["problem"]["title"] == "feature_already_registered"
    assert "title: feature_already_registered (HTTP 409)" in moved.stderr
    assert "traceId:" in moved.stderr


def test_spool_while_down_then_sync_and_lifecycle(api: Api, tmp_path: Path) -> None:
    web = make_repo(tmp_path / "web")
    # A first feature while the API is up caches the tenant's theme for later offline runs.
    assert (
        scaffold(
            "new", "loan-simulator", "--tenant", "tenant-alfa", "--root", str(web), api_url=api.url
        ).exit_code
        == 0
    )
    families = scrape(api.url)
    all_before = sample_value(
        families, "sc_001_scaffolding_minutes_count", tenant_slug="tenant-alfa", feature_slug="__all__"
    )
    with api.down():
        down = scaffold(
            "new", "loan-reports", "--tenant", "tenant-alfa", "--root", str(web), "--json", api_url=api.url
        )
    assert down.exit_code == 3, down.stderr
    spooled = down.json()
    assert spooled["outcome"] == "spooled"
    assert "theme from .foundation/cache/" in down.stderr
    spool_file = web / spooled["spooledTo"]
    entry = json.loads(spool_file.read_text())
    assert entry["body"]["lintCommitHash"] == git(web, "rev-parse", "HEAD") == spooled["lintCommitHash"]
    assert "Authorization" not in json.dumps(entry)
    assert git(web, "status", "--porcelain") == ""

    synced = scaffold("sync", "--root", str(web), "--json", api_url=api.url)
    assert synced.exit_code == 0, synced.stderr
    [result] = synced.json()["results"]
    assert result["outcome"] == "created" and result["featureSlug"] == "loan-reports"
    assert not spool_file.exists()
    assert (
        scaffold("sync", "--root", str(web), api_url=api.url).stdout.strip() == "spool empty: nothing to sync"
    )
    registered = registration(api, "loan-reports")
    assert registered["initiatedAt"] == entry["body"]["startedAt"]  # when it was generated, not synced
    assert instant(registered["recordedAt"]) > instant(registered["initiatedAt"])

    commit = git(web, "rev-parse", "HEAD")
    for kind in ("linted", "tested"):
        step = scaffold(
            "event",
            "loan-reports",
            kind,
            "--tenant",
            "tenant-alfa",
            "--commit",
            commit,
            "--json",
            api_url=api.url,
        )
        assert step.exit_code == 0, step.stderr
        assert step.json()["status"] == kind
    publish = (
        "event",
        "loan-reports",
        "published",
        "--tenant",
        "tenant-alfa",
        "--commit",
        commit,
        "--pipeline-url",
        "https://ci.example/runs/42",
        "--json",
    )
    published = scaffold(*publish, api_url=api.url)
    assert published.exit_code == 0, published.stderr
    assert published.json()["outcome"] == "created"
    retried = scaffold(*publish, api_url=api.url)  # a retried CI job: same arguments, same key
    assert retried.exit_code == 0 and retried.json()["outcome"] == "replayed"
    backwards = scaffold("event", "loan-reports", "tested", "--tenant", "tenant-alfa", api_url=api.url)
    assert backwards.exit_code == 4
    assert "invalid_transition" in backwards.stderr

    final = registration(api, "loan-reports")
    [event] = [e for e in final["events"] if e["type"] == "published"]
    minutes = (instant(event["occurredAt"]) - instant(final["initiatedAt"])) / timedelta(minutes=1)
    assert final["leadTimeMinutes"] == pytest.approx(minutes)
    assert published.json()["leadTimeMinutes"] == pytest.approx(minutes)
    samples = httpx.get(
        f"{api.url}/api/v1/tenant-metrics/tenant-alfa/sc",
        params={"code": "SC-001", "page_size": 100},
        headers={"X-Tenant-Id": "tenant-alfa"},
    ).json()["data"]
    mine = [s for s in samples if s.get("featureSlug") == "loan-reports"]
    assert [s["value"] for s in mine] == [pytest.approx(minutes)]
    assert mine[0]["collectedAt"] == event["occurredAt"] and mine[0]["source"] == "ci"
    families = scrape(api.url)
    labels = {"tenant_slug": "tenant-alfa", "feature_slug": "loan-reports"}
    assert sample_value(families, "sc_001_scaffolding_minutes_count", **labels) == 1
    assert sample_value(families, "sc_001_scaffolding_minutes_sum", **labels) == pytest.approx(minutes)
    assert (
        sample_value(
            families, "sc_001_scaffolding_minutes_count", tenant_slug="tenant-alfa", feature_slug="__all__"
        )
        == all_before + 1
    )
