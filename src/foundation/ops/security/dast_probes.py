"""Targeted DAST probes against the running API, driven by its OpenAPI document.

Every answer of every probe is checked for a 5xx, the security headers and leaked internals (dast_prober.py).
Probes: injection in every path and query parameter and in X-Tenant-Id, oversized and deeply nested bodies,
CR/LF header injection, method-override headers (dast_attacks.py); cross-tenant access with a token bound to
another tenant, and missing, expired, foreign-key and malformed tokens (dast_access.py).
"""

from __future__ import annotations

import json
from typing import Any

from foundation.ops.security.dast_access import AccessProbes
from foundation.ops.security.dast_attacks import AttackProbes
from foundation.ops.security.dast_prober import PUBLIC_PATHS, operations


class Prober(AttackProbes, AccessProbes):
    """Every probe against one running API."""


def run_probes(
    base_url: str, tokens: dict[str, str], openapi: dict[str, Any]
) -> tuple[dict[str, list[dict]], int, int]:
    """(findings by endpoint, operations probed, requests sent)."""
    prober = Prober(base_url, tokens)
    ops = operations(openapi)
    try:
        for op in ops:
            prober.tokens_probe(op)
            if op.path in PUBLIC_PATHS:
                prober.method_override(op, ops)
                continue
            prober.injection(op)
            prober.oversized(op)
            prober.header_injection(op)
            prober.method_override(op, ops)
            prober.cross_tenant(op)
        prober.extra_paths()
    finally:
        prober.close()
    return dict(prober.findings), len(ops), prober.requests


def dump(findings: dict[str, list[dict]]) -> str:
    return json.dumps(findings, indent=2, ensure_ascii=False)
