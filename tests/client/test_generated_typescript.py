"""The generated feature compiles with `tsc --noEmit --strict`, its vitest test passes, and its styles use
only custom properties the tenant's current theme defines. The npm packages come from tests/client/npm.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.client.npm import node_modules
from tests.client.scaffolding import Api, make_repo, scaffold

pytestmark = pytest.mark.integration

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "jsx": "react-jsx",
        "lib": ["ES2022", "DOM", "DOM.Iterable"],
        "types": [],
        "skipLibCheck": True,
        "noUnusedLocals": True,
        "noUnusedParameters": True,
        "noFallthroughCasesInSwitch": True,
        "isolatedModules": True,
    },
    "include": ["src"],
}


@pytest.fixture(scope="module")
def modules() -> Path:
    return node_modules()


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def node(modules: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # CI machines may set FORCE_COLOR; the assertions read plain text, so colours are off and stripped.
    env = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"} | {"NO_COLOR": "1"}
    done = subprocess.run(["node", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    done.stdout, done.stderr = ANSI_ESCAPE.sub("", done.stdout), ANSI_ESCAPE.sub("", done.stderr)
    return done


def generated_repo(api: Api, tmp: Path, name: str, *slugs: str, tenants: list[str] | None = None) -> Path:
    repo = make_repo(tmp / name)
    if tenants:
        (repo / ".foundation").mkdir()
        (repo / ".foundation/scaffold.json").write_text(json.dumps({"tenants": tenants}))
    for slug in slugs:
        run = scaffold("new", slug, "--tenant", "tenant-alfa", "--root", str(repo), api_url=api.url)
        assert run.exit_code == 0, run.stderr
    return repo


def test_generated_code_type_checks_and_its_test_passes(api: Api, tmp_path: Path, modules: Path) -> None:
    repo = generated_repo(
        api, tmp_path, "web", "user-settings", "loan-2fa", tenants=["tenant-beta", "tenant-default"]
    )
    (repo / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2))
    (repo / "node_modules").symlink_to(modules, target_is_directory=True)
    tsc = modules / "typescript" / "bin" / "tsc"
    checked = node(modules, str(tsc), "-p", "tsconfig.json", cwd=repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    stories = (repo / "src/features/user-settings/ui/UserSettings.stories.tsx").read_text()
    assert re.findall(r"export const (\w+): Story", stories) == ["TenantAlfa", "TenantBeta", "TenantDefault"]

    vitest = modules / "vitest" / "vitest.mjs"
    tested = node(modules, str(vitest), "run", "--root", str(repo), "--reporter", "verbose", cwd=repo)
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output
    assert "UserSettings" in output and "Loan2fa" in output and re.search(r"Tests\s+2 passed", output), output

    # The check is not vacuous: a type error in the same project fails it.
    (repo / "src/broken.ts").write_text("export const count: number = 'three';\n")
    broken = node(modules, str(tsc), "-p", "tsconfig.json", cwd=repo)
    assert broken.returncode != 0 and "TS2322" in broken.stdout


def test_styles_use_only_properties_of_the_current_theme(api: Api, tmp_path: Path) -> None:
    css = httpx.get(
        f"{api.url}/api/v1/tenants/tenant-alfa/themes/current.css", headers={"X-Tenant-Id": "tenant-alfa"}
    ).text
    defined = set(re.findall(r"^\s*(--[A-Za-z0-9-]+):", css, re.MULTILINE))
    repo = generated_repo(api, tmp_path, "web", "theme-check")
    used: set[str] = set()
    for path in (repo / "src").rglob("*.ts*"):
        used |= set(re.findall(r"cssVar\('(--[A-Za-z0-9-]+)'\)", path.read_text()))
        used |= set(re.findall(r"var\((--[A-Za-z0-9-]+)\)", path.read_text()))
    assert used and used <= defined, used - defined
