"""Criteria rows and their Markdown / HTML rendering, shared by `observe verify` and `validate`."""

from __future__ import annotations

import base64
import html
import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PASS = "PASS"  # noqa: S105  # a verdict, not a password
FAIL = "FAIL"
SKIPPED = "SKIPPED"  # a check that could not run (with its reason); never counts as a pass


@dataclass
class Criterion:
    id: str
    criterion: str
    status: str
    evidence: str
    files: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == PASS


@dataclass
class PerfRun:
    """One perf smoke run of `validate` (phase 6), as the report shows it."""

    mode: str
    exit_code: int
    run_dir: Path | None
    throughput: dict[str, Any]
    log: Path


def check(id: str, criterion: str, ok: bool, evidence: str, files: list[str] | None = None) -> Criterion:
    return Criterion(
        id=id, criterion=criterion, status=PASS if ok else FAIL, evidence=evidence, files=files or []
    )


def new_run_dir(output_dir: Path, label: str) -> Path:
    """``output_dir/<UTC time>-<label>``, unique (never overwrites an earlier run)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for _ in range(100):
        path = output_dir / f"{stamp}-{label}-{secrets.token_hex(2)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run directory under {output_dir}")


def write_json(path: Path, document: Any) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path.name


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(criteria: list[Criterion], base: Path | None = None) -> str:
    lines = ["| criterion | status | evidence |", "|---|---|---|"]
    for item in criteria:
        links = ", ".join(f"[{Path(f).name}]({_rel(f, base)})" for f in item.files)
        evidence = item.evidence + (f" ({links})" if links else "")
        lines.append(f"| {_cell(item.id + ' ' + item.criterion)} | {item.status} | {_cell(evidence)} |")
    return "\n".join(lines) + "\n"


def _rel(path: str, base: Path | None) -> str:
    if base is None:
        return path
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path


def criteria_json(criteria: list[Criterion]) -> list[dict[str, Any]]:
    return [asdict(item) for item in criteria]


def html_table(criteria: list[Criterion], base: Path | None = None) -> str:
    rows = []
    for item in criteria:
        links = " ".join(
            f'<a href="{html.escape(_rel(f, base))}">{html.escape(Path(f).name)}</a>' for f in item.files
        )
        css = "pass" if item.passed else ("skipped" if item.status == SKIPPED else "fail")
        rows.append(
            f"<tr><td>{html.escape(item.id)} {html.escape(item.criterion)}</td>"
            f'<td class="{css}">{item.status}</td><td>{html.escape(item.evidence)} {links}</td></tr>'
        )
    return (
        "<table><thead><tr><th>criterion</th><th>status</th><th>evidence</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def embedded_png(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )
