"""The stack's state file (``<state-dir>/state.json``) and PID files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from foundation.ops.stack.procs import same_process


@dataclass
class Component:
    name: str
    pid: int
    port: int
    url: str
    health_url: str
    log: str
    cmdline: list[str]

    def alive(self) -> bool:
        return same_process(self.pid, self.cmdline)


@dataclass
class StackState:
    state_dir: str
    started_at: str
    components: dict[str, Component] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def url(self, name: str) -> str | None:
        component = self.components.get(name)
        return component.url if component else None


def state_path(state_dir: Path) -> Path:
    return state_dir / "state.json"


def pid_path(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.pid"


def save(state: StackState) -> None:
    state_dir = Path(state.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    for component in state.components.values():
        pid_path(state_dir, component.name).write_text(f"{component.pid}\n", encoding="utf-8")
    tmp = state_path(state_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
    tmp.replace(state_path(state_dir))


def load(state_dir: Path) -> StackState | None:
    path = state_path(state_dir)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        components = {name: Component(**item) for name, item in raw.get("components", {}).items()}
        return StackState(
            state_dir=raw["state_dir"],
            started_at=raw["started_at"],
            components=components,
            extra=raw.get("extra", {}),
        )
    except (ValueError, KeyError, TypeError):
        return None


def clear(state_dir: Path, names: list[str]) -> None:
    for name in names:
        pid_path(state_dir, name).unlink(missing_ok=True)
    state_path(state_dir).unlink(missing_ok=True)
