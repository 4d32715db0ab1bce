"""The feature template: its shipped versions, the local Copier template repository, and rendering.

Copier versions templates with git tags. Every version this package ships lives in
``templates/feature/<X.Y.Z>/``; they are committed in version order, each tagged ``vX.Y.Z``, into a template
repository in the user's cache (``$FOUNDATION_TEMPLATE_CACHE``, else the platform cache directory), rebuilt
when the shipped templates change. Commits are deterministic (fixed author, committer and dates), so a tag
names the same commit on every machine.

Rendering goes to a temporary directory and touches nothing in the frontend repository; the caller compares
the result with the work tree and writes it. The answers file records the template as the relative path
``.foundation/template``: once the feature is written, :func:`persist` copies the template repository there
(git-ignored), so ``copier update`` run from the repository's root finds it, in any clone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

TEMPLATE_NAME = "feature"
TEMPLATE_DIR = Path(".foundation") / "template"  # relative to the frontend repository's root
ANSWERS_DIR = Path(".foundation") / "scaffolds"
_COMMIT_ENV = {
    "GIT_AUTHOR_NAME": "IABank Foundation",
    "GIT_AUTHOR_EMAIL": "foundation@iabank.local",
    "GIT_COMMITTER_NAME": "IABank Foundation",
    "GIT_COMMITTER_EMAIL": "foundation@iabank.local",
}


class TemplateError(RuntimeError):
    pass


@dataclass(frozen=True)
class RenderedFile:
    path: str  # POSIX, relative to the repository root
    content: bytes


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def shipped_root() -> Path:
    return Path(str(resources.files("foundation.client.scaffold") / "templates" / TEMPLATE_NAME))


def shipped_versions() -> list[str]:
    return sorted(
        (p.name for p in shipped_root().iterdir() if p.is_dir() and p.name[:1].isdigit()), key=_version_key
    )


def latest_version() -> str:
    return shipped_versions()[-1]


def answers_path(slug: str) -> Path:
    return ANSWERS_DIR / f"{slug}.copier-answers.yml"


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _digest() -> str:
    digest = hashlib.sha256()
    root = shipped_root()
    for path in _files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    command = [
        "git",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "tag.gpgsign=false",
    ]
    result = subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise TemplateError(f"git {args[0]} failed in the template repository: {result.stderr.strip()}")
    return result.stdout


def _build(destination: Path) -> None:
    """A fresh template repository with one deterministic commit and tag per shipped version."""
    _git(destination, "init", "--quiet", "--initial-branch", "main")
    for index, version in enumerate(shipped_versions()):
        for entry in destination.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.copytree(shipped_root() / version, destination, dirs_exist_ok=True)
        date = f"2026-01-01T00:00:{index:02d}Z"
        env = {**_COMMIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        _git(destination, "add", "--all")
        _git(destination, "commit", "--quiet", "--allow-empty", "-m", f"feature template {version}", env=env)
        _git(destination, "tag", f"v{version}", env=env)
    (destination / ".git" / "foundation-template-digest").write_text(_digest(), encoding="utf-8")


def cache_location() -> Path:
    configured = os.environ.get("FOUNDATION_TEMPLATE_CACHE", "").strip()
    if configured:
        return Path(configured).expanduser() / TEMPLATE_NAME
    import platformdirs

    return Path(platformdirs.user_cache_dir("iabank-foundation")) / "templates" / TEMPLATE_NAME


def _current(location: Path) -> bool:
    marker = location / ".git" / "foundation-template-digest"
    return marker.is_file() and marker.read_text(encoding="utf-8") == _digest()


def _replace_with(location: Path, fill: Callable[[Path], object]) -> Path:
    """Build into a sibling directory and rename it into place (a concurrent build that won is kept)."""
    location.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".template-", dir=location.parent))
    try:
        fill(staging)
        if location.exists():
            retired = location.with_name(f".retired-{staging.name}")
            location.rename(retired)
            shutil.rmtree(retired, ignore_errors=True)
        staging.rename(location)
    except OSError:
        if not _current(location):
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return location


def ensure_repository(location: Path | None = None) -> Path:
    """The template repository (in the cache by default), built when missing or stale."""
    location = location or cache_location()
    return location if _current(location) else _replace_with(location, _build)


def persist(root: Path) -> None:
    """``<root>/.foundation/template``: the template repository the answers files name (for copier update)."""
    target = root / TEMPLATE_DIR
    if not _current(target):
        source = ensure_repository()

        def copy(staging: Path) -> None:
            shutil.copytree(source, staging, symlinks=True, dirs_exist_ok=True)

        _replace_with(target, copy)


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def render(slug: str, data: dict[str, Any], version: str) -> list[RenderedFile]:
    """Render the template at ``version`` with ``data``: the files as they would be written."""
    import copier

    repository = ensure_repository()
    with tempfile.TemporaryDirectory(prefix="foundation-scaffold-") as scratch:
        base, output = Path(scratch) / "base", Path(scratch) / "out"
        (base / TEMPLATE_DIR).parent.mkdir(parents=True)
        (base / TEMPLATE_DIR).symlink_to(repository, target_is_directory=True)
        # Run from a directory where the relative source path resolves, so the answers file records
        # `.foundation/template`: valid from the root of any clone of the frontend repository.
        with _working_directory(base), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                copier.run_copy(
                    TEMPLATE_DIR.as_posix(),
                    output,
                    data=data,
                    answers_file=answers_path(slug).as_posix(),
                    vcs_ref=f"v{version}",
                    defaults=True,
                    overwrite=True,
                    quiet=True,
                    unsafe=False,
                )
            except Exception as exc:  # copier's own errors name the question or file
                raise TemplateError(f"the feature template failed to render: {exc}") from exc
        return [RenderedFile(p.relative_to(output).as_posix(), p.read_bytes()) for p in _files(output)]
