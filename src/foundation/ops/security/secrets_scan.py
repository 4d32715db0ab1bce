"""Secrets: no private key, token or password in the tracked tree or in the files the image would carry.

detect-secrets (every plugin: private keys, AWS/GitHub/Slack/… tokens, JWTs, basic-auth URLs, keyword
assignments, high-entropy strings) scans the union of ``git ls-files`` and the files the Dockerfile's ``COPY``
instructions take from the build context, read from the working tree as ``docker build`` would (without a
.dockerignore that is every file under those paths, tracked or not; there is no Docker daemon here, so the
image itself is not built). Reviewed fixtures are listed in ``security/secrets-allowlist.yml`` by file,
type and the hashed secret detect-secrets reports, each with a reason; ``# pragma: allowlist secret`` on a
line works too.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from foundation.ops.security.base import (
    FAIL,
    PASS,
    Context,
    PolicyError,
    Verdict,
    load_entries,
    tool,
    write_json,
)

TITLE = "Secrets: tracked tree and image files (detect-secrets)"
ALLOWLIST_FIELDS = ("file", "type", "hashed_secret", "reason")
_SKIP_DIRS = {
    ".git",
    ".venv",
    "var",
    "artifacts",
    "__pycache__",
    "node_modules",
    ".mypy_cache",
    ".ruff_cache",
}
_CHUNK = 200


def tracked_files(root: Path) -> list[str] | None:
    """``git ls-files`` relative to ``root``; None when ``root`` is not a git work tree."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z"],  # noqa: S607  # git on PATH
            cwd=root,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return [name for name in proc.stdout.decode().split("\0") if name and (root / name).is_file()]


def _walk(path: Path, root: Path) -> list[str]:
    if path.is_file():
        return [str(path.relative_to(root))]
    files = []
    for child in sorted(path.iterdir()):
        if child.name in _SKIP_DIRS or child.is_symlink():
            continue
        files += _walk(child, root)
    return files


def image_files(root: Path, dockerfile: Path) -> tuple[list[str], list[str]]:
    """The build-context files the Dockerfile's COPY/ADD instructions take (multi-stage ``--from`` copies
    come from another image and are not context files), and the COPY sources themselves."""
    if not dockerfile.is_file():
        return [], []
    sources: list[str] = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() not in ("COPY", "ADD"):
            continue
        flags = [word for word in rest.split() if word.startswith("--")]
        rest = " ".join(word for word in rest.split() if not word.startswith("--"))
        words = [instruction, *flags, *(json.loads(rest) if rest.startswith("[") else shlex.split(rest))]
        if len(words) < 3:
            continue
        if any(word.startswith("--from") for word in words[1:]):
            continue
        sources += [word for word in words[1:-1] if not word.startswith("--")]
    files: list[str] = []
    for source in sources:
        for path in sorted(root.glob(source)) if any(c in source for c in "*?[") else [root / source]:
            if path.exists():
                files += _walk(path, root)
    return sorted(set(files)), sources


def scan(root: Path, files: list[str], log: Path) -> dict[str, Any]:
    """detect-secrets over ``files`` (relative to ``root``), in chunks; one merged result document."""
    merged: dict[str, Any] = {"results": {}}
    with log.open("w", encoding="utf-8") as out:
        for start in range(0, len(files), _CHUNK):
            chunk = files[start : start + _CHUNK]
            cmd = [tool("detect-secrets"), "scan", *chunk]
            proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=900)
            out.write(
                f"$ detect-secrets scan <{len(chunk)} files>\n# exit {proc.returncode}\n{proc.stderr}\n"
            )
            if proc.returncode != 0:
                raise RuntimeError(f"detect-secrets failed: {proc.stderr.strip()[-300:]}")
            document = json.loads(proc.stdout)
            merged.update({k: v for k, v in document.items() if k != "results"})
            merged["results"].update(document["results"])
    return merged


def findings(
    document: dict[str, Any], allow: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict]]:
    """(unreviewed findings, allowed findings with their reason)."""
    reviewed = {(e["file"], e["type"], e["hashed_secret"]): e["reason"] for e in allow}
    new, allowed = [], []
    for filename, items in sorted(document["results"].items()):
        for item in items:
            key = (filename, item["type"], item["hashed_secret"])
            row = {
                "file": filename,
                "line": item["line_number"],
                "type": item["type"],
                "hashed_secret": key[2],
            }
            if key in reviewed:
                allowed.append({**row, "reason": reviewed[key]})
            else:
                new.append(row)
    return new, allowed


def check(ctx: Context) -> Verdict:
    try:
        allow = load_entries(ctx.path(ctx.options.secrets_allowlist), "allow", ALLOWLIST_FIELDS)
    except PolicyError as exc:
        return Verdict("secrets", TITLE, FAIL, str(exc))
    tracked = tracked_files(ctx.root)
    tracked_note = "git ls-files" if tracked is not None else "every file (not a git work tree)"
    if tracked is None:
        tracked = _walk(ctx.root, ctx.root)
    image, sources = image_files(ctx.root, ctx.root / "Dockerfile")
    # The allowlist holds detect-secrets' own hashes (SHA-1 of reviewed values), which look like secrets.
    allowlist = ctx.path(ctx.options.secrets_allowlist).resolve()
    files = sorted(f for f in set(tracked) | set(image) if (ctx.root / f).resolve() != allowlist)
    document = scan(ctx.root, files, ctx.evidence / "detect-secrets.log")
    raw = write_json(ctx.evidence / "detect-secrets.json", document)
    new, allowed = findings(document, allow)
    in_image = set(image)
    for row in new + allowed:
        row["inImage"] = row["file"] in in_image
    report = write_json(
        ctx.evidence / "secrets-findings.json",
        {
            "scanned": {"tracked": len(tracked), "trackedFrom": tracked_note, "image": len(image)},
            "dockerfileCopySources": sources,
            "unreviewed": new,
            "allowed": allowed,
        },
    )
    summary = (
        f"{len(files)} files scanned ({len(tracked)} from {tracked_note}, {len(image)} the image would copy "
        f"from {', '.join(sources) or 'no Dockerfile'}); {len(allowed)} reviewed fixture(s)"
    )
    if new:
        listed = ", ".join(f"{r['type']} in {r['file']}:{r['line']}" for r in new[:6])
        return Verdict("secrets", TITLE, FAIL, f"{summary} — {len(new)} unreviewed: {listed}", [report, raw])
    return Verdict("secrets", TITLE, PASS, summary, [report, raw])
