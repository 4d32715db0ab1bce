"""Pre-commit parity and CI sync: the hooks run exactly what `make test` lints with, the GitHub workflow runs
exactly what .ci/run runs; each drift is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from foundation.ops.security.parity import make_test_linters, pre_commit_problems, workflow_problems
from tests.security.conftest import ROOT, run_check


def copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in (".pre-commit-config.yaml", ".github/workflows/ci.yml", ".ci/run", "scripts/test.sh"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, root / name)
    return root


def test_the_repository_is_in_sync(tmp_path: Path) -> None:
    assert "ruff check src tests bench" in make_test_linters(ROOT / "scripts" / "test.sh")
    assert "mypy" in make_test_linters(ROOT / "scripts" / "test.sh")
    verdict = run_check("pre-commit-parity", ROOT, tmp_path / "evidence")
    assert verdict.status == "pass", verdict.summary


def test_a_linter_missing_from_pre_commit_fails(tmp_path: Path) -> None:
    root = copy(tmp_path)
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    config["repos"][0]["hooks"] = [h for h in config["repos"][0]["hooks"] if h["id"] != "mypy"]
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    assert pre_commit_problems(root) == ["make test runs `mypy` but no pre-commit hook does"]


def test_a_new_linter_in_make_test_must_reach_pre_commit(tmp_path: Path) -> None:
    root = copy(tmp_path)
    script = root / "scripts" / "test.sh"
    script.write_text(script.read_text() + '\nstep "spelling"; "$BIN/codespell" src || exit 1\n')
    assert pre_commit_problems(root) == ["make test runs `codespell src` but no pre-commit hook does"]


def test_a_remote_hook_repository_is_refused(tmp_path: Path) -> None:
    root = copy(tmp_path)
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    config["repos"].append(
        {"repo": "https://github.com/astral-sh/ruff-pre-commit", "rev": "v0.5.0", "hooks": []}
    )
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    assert any("is not `local`" in p for p in pre_commit_problems(root))


def test_the_workflow_must_run_what_ci_run_runs(tmp_path: Path) -> None:
    root = copy(tmp_path)
    assert workflow_problems(root) == []
    (root / ".ci" / "run").write_text(
        (root / ".ci" / "run").read_text().replace("make test", "make test lint")
    )
    (problem,) = workflow_problems(root)
    assert "the workflow runs ['make test'] but .ci/run runs ['make test lint']" in problem
    workflow = root / ".github" / "workflows" / "ci.yml"
    workflow.write_text(workflow.read_text().replace('python-version: "3.11"', 'python-version: "3.12"'))
    assert "no actions/setup-python step with python-version 3.11" in workflow_problems(root)
