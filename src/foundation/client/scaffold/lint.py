"""The lint step: ``--lint-cmd``, else the repository's ``lintCommand`` (.foundation/scaffold.json), run on
the generated files from the repository root. No command configured is reported as skipped, never as
passed."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.client.scaffold import errors

LINT_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class LintResult:
    status: str  # passed | skipped
    command: str | None


def command_of(flag: str | None, config: dict[str, Any]) -> list[str] | None:
    configured = flag if flag is not None else config.get("lintCommand")
    if configured is None or configured == "" or configured == []:
        return None
    if isinstance(configured, str):
        return shlex.split(configured)
    if isinstance(configured, list) and all(isinstance(part, str) for part in configured):
        return list(configured)
    raise errors.ScaffoldError(errors.USAGE, "lintCommand must be a string or a list of strings")


def run(root: Path, command: list[str] | None, files: Sequence[str]) -> LintResult:
    """Runs ``command`` with the files appended (or in place of a ``{files}`` argument); exit 6 on failure."""
    if command is None:
        return LintResult("skipped", None)
    if "{files}" in command:
        index = command.index("{files}")
        argv = [*command[:index], *files, *command[index + 1 :]]
    else:
        argv = [*command, *files]
    shown = shlex.join(command)
    try:
        result = subprocess.run(
            argv, cwd=root, capture_output=True, text=True, timeout=LINT_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise errors.ScaffoldError(errors.LINT, f"lint command not found: {command[0]}") from None
    except subprocess.TimeoutExpired:
        raise errors.ScaffoldError(
            errors.LINT, f"lint timed out after {LINT_TIMEOUT_SECONDS} s: {shown}"
        ) from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-20:]
        detail = "\n".join(f"  {line}" for line in output)
        raise errors.ScaffoldError(
            errors.LINT,
            f"lint failed (exit {result.returncode}): {shown}; nothing was committed or registered"
            + (f"\n{detail}" if detail else ""),
        )
    return LintResult("passed", shown)
