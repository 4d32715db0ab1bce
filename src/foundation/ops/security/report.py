"""The security gate's own report (``<run>/security/report.md``) and its section in the release report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from foundation.ops.stack.report import html_table, markdown_table

if TYPE_CHECKING:
    from foundation.ops.security.gate import SecurityResult


def verdict_line(result: SecurityResult) -> str:
    counts = {
        status: sum(v.status == status for v in result.verdicts) for status in ("pass", "fail", "skipped")
    }
    skipped = ", ".join(
        f"{v.check} ({'accepted' if v.check in result.allow_skipped else 'NOT accepted'}: {v.reason})"
        for v in result.verdicts
        if v.status == "skipped"
    )
    verdict = "PASS" if result.passed else "FAIL"
    line = (
        f"Security gate: **{verdict}** — {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['skipped']} skipped (a skipped check is never a pass)"
    )
    return line + (f"; skipped: {skipped}" if skipped else "") + "."


def markdown_section(result: SecurityResult, base: Path) -> str:
    from foundation.ops.security.gate import criteria

    return "\n".join(
        [
            "## Phases 8–12 — Security and supply chain",
            "",
            verdict_line(result),
            "",
            f"Evidence folder: `{result.evidence.resolve().relative_to(base.resolve())}` "
            "(`verdicts.json` sums it up).",
            "",
            markdown_table(criteria(result.verdicts), base),
        ]
    )


def html_section(result: SecurityResult, base: Path) -> str:
    import html

    from foundation.ops.security.gate import criteria

    return (
        "<h2>Phases 8–12 — Security and supply chain</h2>"
        f"<p>{html.escape(verdict_line(result)).replace('**', '')}</p>"
        f"{html_table(criteria(result.verdicts), base)}"
    )


def write_security_report(result: SecurityResult, run_dir: Path) -> Path:
    text = "# Security gate\n\n" + markdown_section(result, result.evidence).split("\n", 2)[2]
    result.report.write_text(text, encoding="utf-8")
    return result.report
