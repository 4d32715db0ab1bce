"""The npm packages the generated TypeScript needs, pinned, installed once into a cached, git-ignored folder
(``var/npm/scaffold-typecheck``; the npm cache in ``var/npm/cache``) and reinstalled when the pins change."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / "var" / "npm" / "scaffold-typecheck"
CACHE = ROOT / "var" / "npm" / "cache"
# What the generated files import (react, react-dom/server, vitest, @storybook/react) and the compiler.
PACKAGES = {
    "typescript": "5.9.3",
    "react": "18.3.1",
    "react-dom": "18.3.1",
    "@types/react": "18.3.23",
    "@types/react-dom": "18.3.7",
    "vitest": "3.2.4",
    "@storybook/react": "8.6.14",
    "storybook": "8.6.14",
}
INSTALL_TIMEOUT_SECONDS = 900


def node_modules() -> Path:
    """The installed ``node_modules`` (installing it when missing or when PACKAGES changed)."""
    manifest = {"name": "scaffold-typecheck", "private": True, "dependencies": PACKAGES}
    stamp = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    marker = PREFIX / ".installed"
    if marker.is_file() and marker.read_text() == stamp:
        return PREFIX / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (scripts/system-deps.sh installs nodejs and npm)")
    PREFIX.mkdir(parents=True, exist_ok=True)
    (PREFIX / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--save-exact", "--cache", str(CACHE)],
        cwd=PREFIX,
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    marker.write_text(stamp)
    return PREFIX / "node_modules"
