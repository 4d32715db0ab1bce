"""Success-criteria report ingestion (`foundation metrics ingest`): one parser module per kind, reading the
real output of the tool that measures the criterion, and the HTTP client that posts the result.

=============  ==========================================================  =========  ==========
kind           input                                                       criterion  source
=============  ==========================================================  =========  ==========
storybook      Storybook ``index.json`` (v4, v5)                           SC-002     chromatic
lighthouse     Lighthouse results (LHR JSON, v10+), one per page           SC-004     lighthouse
axe            axe-core results JSON (object or array)                     SC-004     ci
pact           pact files (v2-v4) + verifier JUnit XML or JSON report      SC-003     ci
pii-audit      JSON logs, collector span/log files, CSP reports            SC-005     manual
=============  ==========================================================  =========  ==========

Definitions and the CI recipe: docs/success-criteria.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path

from foundation.client.ingest.model import Options, Report

Parser = Callable[[Sequence[Path], Options], Report]

# kind → module (imported when used: pii-audit loads the PII guard and the OpenTelemetry SDK with it).
KINDS: dict[str, str] = {
    "storybook": "storybook",
    "lighthouse": "lighthouse",
    "axe": "axe",
    "pact": "pact",
    "pii-audit": "pii_audit",
}


def parser(kind: str) -> Parser | None:
    module = KINDS.get(kind)
    return None if module is None else import_module(f"{__name__}.{module}").parse  # type: ignore[no-any-return]


__all__ = ["KINDS", "Options", "Parser", "Report", "parser"]
