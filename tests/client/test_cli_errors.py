"""`foundation scaffold` refusals and their exit codes against a real API process and real git repositories:
2 usage/validation (also a 400 from the API), 4 conflict, 5 other API errors, 6 lint; --dry-run and
--no-commit; `event` and `list`."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.client.scaffolding import Api, Run, git, scaffold
from tests.client.scripted import Reply, scripted

pytestmark = pytest.mark.integration


def new(api: Api, repo: Path, slug: str, *extra: str) -> Run:
    return scaffold("new", slug, "--tenant", "tenant-alfa", "--root", str(repo), *extra, api_url=api.url)


def registered(api: Api, slug: str) -> bool:
    response = httpx.get(
        f"{api.url}/api/v1/tenants/tenant-alfa/features/scaffold/{slug}",
        headers={"X-Tenant-Id": "tenant-alfa"},
    )
    return response.status_code == 200


def one_error_line(run: Run) -> str:
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.stderr
    return errors[0]


def test_usage_errors(api: Api, repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    run = new(api, outside, "x")
    assert run.exit_code == 2 and "not inside a git work tree" in one_error_line(run)
    for slug in ("Bad_Slug", "2fa", "settings--x"):
        run = new(api, repo, slug)
        assert run.exit_code == 2 and "kebab-case" in one_error_line(run), slug
    assert new(api, repo, "x", "--initiated-by", "me").exit_code == 2
    assert new(api, repo, "x", "--sc", "@SC-009").exit_code == 2
    unknown = scaffold("new", "x", "--tenant", "tenant-nowhere", "--root", str(repo), api_url=api.url)
    assert unknown.exit_code == 2 and "does not exist" in one_error_line(unknown)
    assert git(repo, "status", "--porcelain") == "" and not (repo / ".foundation").exists()


def test_dry_run_writes_and_sends_nothing(api: Api, repo: Path) -> None:
    run = new(api, repo, "dry-feature", "--dry-run", "--json")
    assert run.exit_code == 0, run.stderr
    report = run.json()
    assert report["outcome"] == "dry_run"
    request = report["request"]
    assert request["method"] == "POST" and request["headers"]["Idempotency-Key"].startswith(
        "scaffold-dry-feature-"
    )
    assert request["body"]["featureSlug"] == "dry-feature" and request["body"]["lintCommitHash"] is None
    assert [f["path"] for f in report["files"]] == sorted(f["path"] for f in report["files"])
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert not registered(api, "dry-feature")
    # The plan is what a real run writes.
    real = new(api, repo, "dry-feature", "--json")
    assert real.exit_code == 0 and real.json()["files"] == report["files"]


def test_lint_failure_stops_before_commit_and_registration(api: Api, repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    failing = shlex.join([sys.executable, "-c", "import sys; print('src/x.ts:1 bad'); sys.exit(3)"])
    run = new(api, repo, "linted-badly", "--lint-cmd", failing)
    assert run.exit_code == 6
    assert "lint failed (exit 3)" in one_error_line(run) and "src/x.ts:1 bad" in run.stderr
    assert git(repo, "rev-parse", "HEAD") == head and not registered(api, "linted-badly")
    assert (repo / "src/features/linted-badly/ui/LintedBadly.tsx").is_file()  # left for the developer to fix

    # A passing lint gets the generated files; the repository's configured command is used without --lint-cmd.
    seen = repo.parent / "lint-args.json"
    script = f"import json, sys; json.dump(sys.argv[1:], open({str(seen)!r}, 'w'))"
    (repo / ".foundation").mkdir(exist_ok=True)
    (repo / ".foundation/scaffold.json").write_text(
        json.dumps({"lintCommand": [sys.executable, "-c", script]})
    )
    git(repo, "add", ".foundation/scaffold.json")
    git(repo, "commit", "-q", "-m", "lint config")
    run = new(api, repo, "linted-badly", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["lint"] == "passed"
    assert sorted(json.loads(seen.read_text())) == sorted(f["path"] for f in run.json()["files"])


def test_existing_files_need_force(api: Api, repo: Path) -> None:
    target = repo / "src/features/taken/ui/Taken.tsx"
    target.parent.mkdir(parents=True)
    target.write_text("// mine\n")
    run = new(api, repo, "taken")
    assert run.exit_code == 2 and "--force overwrites" in one_error_line(run)
    assert target.read_text() == "// mine\n" and not registered(api, "taken")


def test_no_commit_registers_a_clean_head(api: Api, repo: Path) -> None:
    assert new(api, repo, "committed-first").exit_code == 0
    (repo / "notes.txt").write_text("work in progress\n")
    dirty = new(api, repo, "committed-first", "--no-commit", "--force")
    assert dirty.exit_code == 2 and "work tree must be clean" in one_error_line(dirty)
    (repo / "notes.txt").unlink()
    clean = new(api, repo, "committed-first", "--no-commit", "--force", "--json")
    assert clean.exit_code == 0, clean.stderr
    assert clean.json()["outcome"] == "replayed"
    assert clean.json()["lintCommitHash"] == git(repo, "rev-parse", "HEAD")


def test_a_400_from_the_api_is_exit_2_with_its_problem(api: Api, repo: Path) -> None:
    assert new(api, repo, "template-source", "--dry-run").exit_code == 0
    assert new(api, repo, "template-source").exit_code == 0
    answers = (repo / ".foundation/scaffolds/template-source.copier-answers.yml").read_text()
    stale = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines = [
        f"started_at: '{stale}'" if line.startswith("started_at:") else line for line in answers.splitlines()
    ]
    text = "\n".join(lines).replace("template-source", "stale-start").replace("TemplateSource", "StaleStart")
    (repo / ".foundation/scaffolds/stale-start.copier-answers.yml").write_text(text + "\n")
    run = new(api, repo, "stale-start", "--force")  # the hand-written answers file is rewritten by Copier
    assert run.exit_code == 2, run.stderr
    assert "400 invalid_request" in one_error_line(run)
    assert "  - startedAt: must not be more than 24 hours before" in run.stderr
    assert "traceId:" in run.stderr


def test_other_api_errors_are_exit_5(repo: Path) -> None:
    problem = json.dumps(
        {"title": "unauthenticated", "status": 401, "detail": "Missing bearer token.", "traceId": "a" * 32}
    ).encode()
    refusal = Reply(401, problem, {"Content-Type": "application/problem+json"})
    with scripted({"GET /api": [refusal], "POST /api": [refusal]}) as script:
        generated = scaffold("new", "x", "--tenant", "tenant-alfa", "--root", str(repo), api_url=script.url)
        reported = scaffold("event", "x", "linted", "--tenant", "tenant-alfa", api_url=script.url)
    for run in (generated, reported):
        assert run.exit_code == 5, run.stderr
        assert "401 unauthenticated: Missing bearer token." in one_error_line(run)
        assert f"traceId: {'a' * 32}" in run.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_event_errors_and_list(api: Api, repo: Path) -> None:
    unknown = scaffold("event", "never-made", "linted", "--tenant", "tenant-alfa", api_url=api.url)
    assert unknown.exit_code == 5 and "404 not_found" in one_error_line(unknown)
    for arguments in (
        ("event", "x", "deployed", "--tenant", "tenant-alfa"),
        ("event", "x", "linted", "--tenant", "tenant-alfa", "--stage", "lint"),
        ("event", "x", "failed", "--tenant", "tenant-alfa", "--stage", "deploy"),
        ("event", "x", "linted", "--tenant", "tenant-alfa", "--commit", "HEAD"),
        ("event", "x", "linted", "--tenant", "tenant-alfa", "--pipeline-url", "ftp://ci/1"),
        ("event", "x", "linted", "--tenant", "tenant-alfa", "--at", "yesterday"),
    ):
        assert scaffold(*arguments, api_url=api.url).exit_code == 2, arguments
    assert new(api, repo, "listed").exit_code == 0
    failed = scaffold(
        "event", "listed", "failed", "--tenant", "tenant-alfa", "--stage", "test", "--json", api_url=api.url
    )
    assert failed.exit_code == 0 and failed.json()["status"] == "initiated"
    listing = scaffold("list", "--tenant", "tenant-alfa", "--json", api_url=api.url)
    assert listing.exit_code == 0
    assert "listed" in [item["featureSlug"] for item in listing.json()]
    published = scaffold(
        "list", "--tenant", "tenant-alfa", "--status", "published", "--json", api_url=api.url
    )
    assert all(item["status"] == "published" for item in published.json())
    table = scaffold("list", "--tenant", "tenant-alfa", api_url=api.url)
    assert any(line.startswith("listed ") and " initiated " in line for line in table.stdout.splitlines())
    assert scaffold("list", "--tenant", "tenant-alfa", "--status", "shipped", api_url=api.url).exit_code == 2
