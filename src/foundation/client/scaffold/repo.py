"""The frontend repository: a git work tree, its files, the scaffold commit and ``HEAD``."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foundation.client.scaffold import errors

CONFIG = Path(".foundation") / "scaffold.json"
IGNORE_FILE = Path(".foundation") / ".gitignore"
IGNORED = ("spool/", "cache/", "template/")


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args],  # noqa: S607  # the developer's git, found on PATH on purpose
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise errors.ScaffoldError(errors.USAGE, "git is not installed (it is needed to commit)") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise errors.ScaffoldError(
            errors.USAGE, f"git {args[0]} failed: {detail[-1] if detail else f'exit {result.returncode}'}"
        )
    return result


def work_tree(root: Path) -> Path:
    """``root`` resolved, after checking it is inside a git work tree."""
    if not root.is_dir():
        raise errors.ScaffoldError(errors.USAGE, f"{root} is not a directory")
    inside = git(root, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise errors.ScaffoldError(
            errors.USAGE, f"{root} is not inside a git work tree (--root must be the frontend repository)"
        )
    return root.resolve()


def config(root: Path) -> dict[str, Any]:
    """``.foundation/scaffold.json`` of the repository (``lintCommand``, ``tenants``, ``src``), or {}."""
    path = root / CONFIG
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise errors.ScaffoldError(errors.USAGE, f"{CONFIG} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise errors.ScaffoldError(errors.USAGE, f"{CONFIG} must hold a JSON object")
    return value


def ignore_file_content(current: str | None) -> str:
    """``.foundation/.gitignore`` with the spool, cache and template repository ignored."""
    lines = (current or "").splitlines()
    missing = [entry for entry in IGNORED if entry not in lines]
    if not missing:
        return current or ""
    header = [] if lines else ["# foundation scaffold: local state, never committed"]
    return "\n".join([*lines, *header, *missing]) + "\n"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def changed(root: Path, paths: Sequence[str]) -> list[str]:
    """Paths among ``paths`` that differ from ``HEAD`` (modified, added or untracked)."""
    output = git(root, "status", "--porcelain", "--untracked-files=all", "--", *paths).stdout
    return [line[3:] for line in output.splitlines() if line.strip()]


def dirty(root: Path) -> list[str]:
    output = git(root, "status", "--porcelain", "--untracked-files=all").stdout
    return [line[3:] for line in output.splitlines() if line.strip()]


def head(root: Path) -> str | None:
    result = git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    return result.stdout.strip() or None


def last_commit_of(root: Path, paths: Sequence[str]) -> str | None:
    return git(root, "log", "-1", "--format=%H", "--", *paths).stdout.strip() or None


def commit(root: Path, paths: Sequence[str], message: str) -> str:
    """Commit exactly ``paths`` (other staged changes stay staged, uncommitted); returns the new HEAD."""
    git(root, "add", "--", *paths)
    result = git(root, "commit", "--quiet", "-m", message, "--only", "--", *paths, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise errors.ScaffoldError(
            errors.USAGE, f"git commit failed (a commit hook, or no user.name/user.email?): {detail}"
        )
    sha = head(root)
    if sha is None:  # a commit just succeeded, so HEAD exists
        raise errors.ScaffoldError(errors.USAGE, "git commit succeeded but HEAD cannot be read")
    return sha
