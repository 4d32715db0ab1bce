"""Pre-commit parity and CI status: the hooks a developer runs locally are the linters `make test` runs,
and the GitHub Actions workflow runs what `.ci/run` runs.

* ``scripts/test.sh`` is read for every ``"$BIN/<tool>" …`` invocation except the test runner and the
  project's own CLI; ``.pre-commit-config.yaml`` must hold exactly those commands as ``repo: local`` hooks
  calling the project's venv (``.venv/bin/<tool>``, so versions are the locked ones) with
  ``pass_filenames: false``. ``pre-commit validate-config`` checks the file's format.
* ``.github/workflows/ci.yml`` must run on push and pull requests with Python 3.11, cache uv and npm
  downloads, and run exactly the commands of ``.ci/run``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from foundation.ops.security.base import FAIL, PASS, Context, Verdict, run, tool, write_json

TITLE = "Pre-commit parity with make test; CI workflow in sync with .ci/run"
_INVOCATION = re.compile(r'"\$BIN/([A-Za-z0-9_.-]+)"([^&|;\n]*)')
NOT_LINTERS = {"pytest", "python", "python3", "foundation", "uv", "pip"}
VENV_PREFIX = ".venv/bin/"


def _normalise(command: str) -> str:
    return " ".join(shlex.split(command.strip()))


def make_test_linters(script: Path) -> list[str]:
    """The lint/type-check commands of scripts/test.sh, as ``<tool> <args>``."""
    commands = []
    for line in script.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        for tool_name, args in _INVOCATION.findall(line):
            if tool_name not in NOT_LINTERS:
                commands.append(_normalise(f"{tool_name} {args.replace(chr(34) + '$@' + chr(34), '')}"))
    return commands


def pre_commit_commands(config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(commands of the hooks, problems with how they are declared)."""
    commands, problems = [], []
    for repo in config.get("repos") or []:
        if repo.get("repo") != "local":
            problems.append(
                f"repo {repo.get('repo')} is not `local`: its tool versions would not be the locked ones"
            )
            continue
        for hook in repo.get("hooks") or []:
            entry = str(hook.get("entry", ""))
            if not entry.startswith(VENV_PREFIX):
                problems.append(f"hook {hook.get('id')}: entry must call the project's venv ({VENV_PREFIX}…)")
            if hook.get("language") != "system":
                problems.append(f"hook {hook.get('id')}: language must be system (the venv's tool)")
            if hook.get("pass_filenames", True):
                problems.append(
                    f"hook {hook.get('id')}: pass_filenames must be false (same scope as make test)"
                )
            args = " ".join(shlex.quote(str(a)) for a in hook.get("args") or [])
            commands.append(_normalise(f"{entry.removeprefix(VENV_PREFIX)} {args}"))
    return commands, problems


def pre_commit_problems(root: Path) -> list[str]:
    config_path, script = root / ".pre-commit-config.yaml", root / "scripts" / "test.sh"
    if not config_path.is_file():
        return [f"{config_path.name} is missing"]
    expected = make_test_linters(script)
    hooks, problems = pre_commit_commands(yaml.safe_load(config_path.read_text(encoding="utf-8")) or {})
    problems += [f"make test runs `{c}` but no pre-commit hook does" for c in expected if c not in hooks]
    problems += [f"pre-commit runs `{c}` but make test does not" for c in hooks if c not in expected]
    return problems


def ci_run_commands(script: Path) -> list[str]:
    """The commands of .ci/run, without the shebang, comments, `set` and the `cd` to the checkout."""
    commands = []
    for raw in script.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("set ") or line.startswith("cd "):
            continue
        commands.append(_normalise(line))
    return commands


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in job.get("steps") or [] if isinstance(step, dict)]


def workflow_problems(root: Path) -> list[str]:
    path = root / ".github" / "workflows" / "ci.yml"
    if not path.is_file():
        return [f"{path.relative_to(root)} is missing"]
    workflow = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    names = set(triggers) if isinstance(triggers, dict | list) else {triggers}
    problems = [
        f"the workflow does not run on {event}" for event in ("push", "pull_request") if event not in names
    ]
    jobs = workflow.get("jobs") or {}
    steps = [step for job in jobs.values() for step in _steps(job)]
    uses = [str(step.get("uses", "")) for step in steps]
    if not any(u.startswith("actions/checkout@") for u in uses):
        problems.append("no actions/checkout step")
    setup = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")]
    if not setup or str((setup[0].get("with") or {}).get("python-version")) != "3.11":
        problems.append("no actions/setup-python step with python-version 3.11")
    cached = " ".join(
        str((s.get("with") or {}).get("path", "")) for s in steps if "cache" in str(s.get("uses"))
    )
    for what, marker in (("uv", "uv"), ("npm", "npm")):
        if marker not in cached:
            problems.append(f"no cache of {what} downloads (actions/cache path)")
    commands = [
        _normalise(line) for s in steps if "run" in s for line in str(s["run"]).splitlines() if line.strip()
    ]
    expected = ci_run_commands(root / ".ci" / "run")
    if commands != expected:
        problems.append(f"the workflow runs {commands} but .ci/run runs {expected}")
    return problems


def check(ctx: Context) -> Verdict:
    problems = pre_commit_problems(ctx.root) + workflow_problems(ctx.root)
    config = ctx.root / ".pre-commit-config.yaml"
    if config.is_file():
        proc = run(
            [tool("pre-commit"), "validate-config", str(config)],
            ctx.evidence / "pre-commit-validate.log",
            cwd=ctx.root,
            timeout=120,
        )
        if proc.returncode != 0:
            problems.append(f"pre-commit validate-config: {(proc.stdout + proc.stderr).strip()[-300:]}")
    report = write_json(
        ctx.evidence / "parity.json",
        {
            "makeTestLinters": make_test_linters(ctx.root / "scripts" / "test.sh"),
            "ciRun": ci_run_commands(ctx.root / ".ci" / "run")
            if (ctx.root / ".ci" / "run").is_file()
            else [],
            "problems": problems,
        },
    )
    if problems:
        return Verdict("pre-commit-parity", TITLE, FAIL, "; ".join(problems[:6]), [report])
    linters = ", ".join(make_test_linters(ctx.root / "scripts" / "test.sh"))
    return Verdict(
        "pre-commit-parity", TITLE, PASS, f"hooks = make test's linters ({linters}); CI = .ci/run", [report]
    )
