"""The registration request of a generated feature: body, slices and the derived Idempotency-Key."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

SLICES = ("app", "pages", "features", "entities", "shared")


@dataclass(frozen=True)
class FileEntry:
    slice: str
    path: str  # POSIX, relative to the repository root
    checksum: str

    def as_dict(self) -> dict[str, str]:
        return {"slice": self.slice, "path": self.path, "checksum": self.checksum}


def slice_of(path: str, src_dir: str) -> str | None:
    """``src/features/x/index.ts`` → ``features`` (None for files outside the slices: answers, ignores)."""
    parts = PurePosixPath(path).parts
    prefix = PurePosixPath(src_dir).parts
    if parts[: len(prefix)] != prefix or len(parts) <= len(prefix) + 1:
        return None
    layer = parts[len(prefix)]
    return layer if layer in SLICES else None


def idempotency_key(tenant: str, slug: str, files: Sequence[FileEntry]) -> str:
    """Derived from the tenant, the slug and the checksums: the same generated feature is the same request."""
    digest = hashlib.sha256(f"{tenant}\n{slug}\n".encode())
    for entry in sorted(files, key=lambda e: e.path):
        digest.update(f"{entry.path}\t{entry.checksum}\n".encode())
    return f"scaffold-{slug[:24]}-{digest.hexdigest()[:40]}"


def body(
    *,
    slug: str,
    initiated_by: str,
    files: Sequence[FileEntry],
    commit: str | None,
    sc_references: Sequence[str],
    started_at: str,
    template_version: str,
) -> dict[str, Any]:
    slices = [
        {
            "slice": name,
            "files": [
                {"path": f.path, "checksum": f.checksum}
                for f in sorted(files, key=lambda e: e.path)
                if f.slice == name
            ],
        }
        for name in SLICES
        if any(f.slice == name for f in files)
    ]
    return {
        "featureSlug": slug,
        "initiatedBy": initiated_by,
        "slices": slices,
        "lintCommitHash": commit,
        "scReferences": list(sc_references),
        "startedAt": started_at,
        "metadata": {"template": "feature", "templateVersion": template_version},
    }


def path_of(tenant: str) -> str:
    return f"/api/v1/tenants/{tenant}/features/scaffold"
