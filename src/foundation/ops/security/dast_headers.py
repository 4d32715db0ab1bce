"""The answers every response must carry (docs/api.md: headers on every response), and what must never leak.

Shared by the targeted probes and by the schemathesis hook (dast_hooks.py), so the fuzzer checks them on every
answer it gets too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REQUIRED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_PATH = "/docs"
# Text that only appears in a body when internals leak: stack traces, driver and ORM errors.
LEAK_MARKERS = re.compile(
    r"Traceback \(most recent call last\)|File \"/|sqlalchemy\.|sqlite3\.|asyncpg\.|psycopg|"
    r"OperationalError|IntegrityError|ProgrammingError|pydantic_core\.",
)


def header_problems(path: str, headers: Mapping[str, str]) -> list[str]:
    """What is missing or wrong in the security headers of one response to ``path``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    problems = [
        f"{name}: {lowered.get(name)!r} (expected {value!r})"
        for name, value in REQUIRED.items()
        if lowered.get(name) != value
    ]
    csp = lowered.get("content-security-policy")
    if path == DOCS_PATH or path.startswith(DOCS_PATH + "/"):
        # The interactive docs page may relax the policy for itself, but only to its own origin.
        if not csp or "frame-ancestors 'none'" not in csp:
            problems.append(
                f"content-security-policy on the docs: {csp!r} (must keep frame-ancestors 'none')"
            )
        elif "unsafe-inline" in csp or "unsafe-eval" in csp or re.search(r"https?://", csp):
            problems.append(
                f"content-security-policy on the docs allows inline code or another origin: {csp!r}"
            )
    elif csp != STRICT_CSP:
        problems.append(f"content-security-policy: {csp!r} (expected {STRICT_CSP!r})")
    if "cache-control" not in lowered:
        problems.append("cache-control missing")
    return problems


def leak_problem(body: str) -> str | None:
    match = LEAK_MARKERS.search(body)
    return f"the body discloses internals ({match.group(0)!r})" if match else None
