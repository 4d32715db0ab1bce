"""Template versions: a feature generated with 1.0.0 moves to a newer shipped version with `copier update`,
run from the repository root as docs/scaffolding.md says, using the answers file the CLI committed."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import yaml

from foundation.client.scaffold import template
from tests.client.scaffolding import Api, git, make_repo, scaffold

pytestmark = pytest.mark.integration
COMPONENT = "src/features/user-settings/ui/UserSettings.tsx"


def test_copier_update_moves_a_feature_to_a_newer_version(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "web")
    assert (
        scaffold(
            "new", "user-settings", "--tenant", "tenant-alfa", "--root", str(repo), api_url=api.url
        ).exit_code
        == 0
    )
    original = (repo / COMPONENT).read_text()
    (repo / "src/pages/user-settings/ui/UserSettingsPage.tsx").write_text(
        (repo / "src/pages/user-settings/ui/UserSettingsPage.tsx").read_text() + "// kept by the developer\n"
    )
    git(repo, "commit", "-qam", "local change")

    # A package that ships 1.1.0 next to 1.0.0: the component gains a line.
    shipped = tmp_path / "shipped"
    shutil.copytree(template.shipped_root(), shipped)
    shutil.copytree(shipped / "1.0.0", shipped / "1.1.0")
    component = next((shipped / "1.1.0").rglob("*].tsx.jinja"))
    component.write_text(
        component.read_text().replace("export function", "// template 1.1.0\nexport function")
    )
    monkeypatch.setattr(template, "shipped_root", lambda: shipped)
    monkeypatch.setenv("FOUNDATION_TEMPLATE_CACHE", str(tmp_path / "cache"))
    template.persist(repo)  # what any `foundation scaffold new` does when the package changed
    assert git(repo, "status", "--porcelain") == ""

    import copier

    monkeypatch.chdir(repo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_update(
            ".",
            answers_file=".foundation/scaffolds/user-settings.copier-answers.yml",
            vcs_ref="v1.1.0",
            defaults=True,
            overwrite=True,
            quiet=True,
        )
    updated = (repo / COMPONENT).read_text()
    assert updated == original.replace("export function", "// template 1.1.0\nexport function")
    assert (
        "// kept by the developer" in (repo / "src/pages/user-settings/ui/UserSettingsPage.tsx").read_text()
    )
    answers = yaml.safe_load((repo / ".foundation/scaffolds/user-settings.copier-answers.yml").read_text())
    assert answers["_commit"] == "v1.1.0" and answers["_src_path"] == ".foundation/template"
