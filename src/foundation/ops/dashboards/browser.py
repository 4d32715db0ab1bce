"""Headless Chromium helpers for checking the live dashboard (used by the tests and by humans)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PanelState:
    id: str
    slug: str
    state: str
    points: int
    series: int


@dataclass
class PageState:
    ready: str
    panels: list[PanelState]
    dom: str


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium not found; install it with: sudo apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="foundation-chromium-") as profile:
        cmd = [binary, *_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


_SECTION = re.compile(r"<section\b([^>]*)>", re.S)
_ATTR = re.compile(r'([\w-]+)="([^"]*)"')


def parse_dom(dom: str) -> PageState:
    body = re.search(r"<body\b([^>]*)>", dom)
    body_attrs = dict(_ATTR.findall(body.group(1))) if body else {}
    panels = []
    for match in _SECTION.finditer(dom):
        attrs = dict(_ATTR.findall(match.group(1)))
        if "panel" not in attrs.get("class", ""):
            continue
        panels.append(
            PanelState(
                id=attrs.get("id", ""),
                slug=attrs.get("data-slug", ""),
                state=attrs.get("data-state", ""),
                points=int(attrs.get("data-points", "0") or 0),
                series=int(attrs.get("data-series", "0") or 0),
            )
        )
    return PageState(ready=body_attrs.get("data-ready", ""), panels=panels, dom=dom)


def dump_dom(url: str, budget_ms: int = 8000, timeout: float = 60.0) -> PageState:
    """Load ``url``, let scripts run for ``budget_ms`` of virtual time, return the parsed DOM."""
    result = _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], timeout)
    return parse_dom(result.stdout)


def screenshot(
    url: str, path: Path, budget_ms: int = 8000, size: str = "1400,1300", timeout: float = 60.0
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [f"--virtual-time-budget={budget_ms}", f"--window-size={size}", f"--screenshot={path}", url], timeout
    )
    if not path.is_file():
        raise RuntimeError(f"chromium wrote no screenshot for {url}")
    return path
