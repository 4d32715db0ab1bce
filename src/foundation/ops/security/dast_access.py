"""Access probes: cross-tenant access with a token bound to another tenant, missing/expired/foreign-key/
malformed/unsigned tokens, public endpoints, and the security headers of the pages outside the document."""

from __future__ import annotations

import base64
import json
from typing import Any

from foundation.ops.security.dast_prober import PUBLIC_PATHS, Operation, ProberBase
from foundation.ops.security.dast_server import ALFA, BETA


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ``alg: none`` token (empty signature), built here rather than kept as text in the tree."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


class AccessProbes(ProberBase):
    def cross_tenant(self, op: Operation) -> None:
        if "tenantId" in op.path_params:
            cases = [("X-Tenant-Id alfa", ALFA), ("X-Tenant-Id beta", BETA)]
            for label, header_tenant in cases:
                response = self.send(
                    op.key,
                    "cross-tenant",
                    op.method,
                    op.url(),
                    headers=self.auth("beta", header_tenant),
                    json={},
                )
                if response is not None and response.status_code < 400:
                    self.finding(
                        op.key,
                        "cross-tenant",
                        f"a tenant-beta token acted on tenant-alfa ({label}): {response.status_code}",
                        op.url(),
                        response.status_code,
                    )
                elif response is not None and response.status_code not in (400, 403):
                    self.finding(
                        op.key,
                        "cross-tenant",
                        f"expected 403 (or 400 for a mismatched header), got {response.status_code}",
                        op.url(),
                        response.status_code,
                    )
        elif op.path == "/api/v1/design-system/stories":
            response = self.send(
                op.key, "cross-tenant", op.method, op.url(), headers=self.auth("beta", ALFA), json={}
            )
            if response is not None and response.status_code != 403:
                self.finding(
                    op.key,
                    "cross-tenant",
                    f"tenant-beta token with X-Tenant-Id alfa: expected 403, got {response.status_code}",
                    op.url(),
                    response.status_code,
                )
        if op.method == "GET" and op.path == "/api/v1/design-system/stories":
            response = self.send(
                op.key,
                "cross-tenant:own-view",
                "GET",
                op.url(),
                headers=self.auth("beta", BETA),
                params={"page_size": 100},
            )
            if response is not None and response.status_code == 200:
                foreign = [
                    i for i in response.json().get("data", []) if i.get("tenantId") not in (BETA, None)
                ]
                if foreign:
                    self.finding(
                        op.key,
                        "cross-tenant:own-view",
                        f"tenant-beta saw {len(foreign)} story(ies) of another tenant",
                        op.url(),
                        200,
                    )

    def tokens_probe(self, op: Operation) -> None:
        if op.path in PUBLIC_PATHS:
            response = self.send(op.key, "auth:public", op.method, op.url())
            if response is not None and response.status_code != 200:
                self.finding(
                    op.key,
                    "auth:public",
                    f"public endpoint answered {response.status_code}",
                    op.url(),
                    response.status_code,
                )
            return
        variants = {
            "missing": None,
            "expired": self.tokens["expired"],
            "foreign-key": self.tokens["foreign-key"],
            "malformed": "not.a.jwt",
            "alg-none": _unsigned({"alg": "none", "typ": "JWT"}, {"sub": "x", "scope": "tokens.read"}),
        }
        for name, token in variants.items():
            headers = {"X-Tenant-Id": ALFA}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            response = self.send(op.key, f"auth:{name}-token", op.method, op.url(), headers=headers, json={})
            if response is not None and response.status_code != 401:
                self.finding(
                    op.key,
                    f"auth:{name}-token",
                    f"expected 401, got {response.status_code}",
                    op.url(),
                    response.status_code,
                )
            elif response is not None and not response.headers.get("www-authenticate", "").startswith(
                "Bearer"
            ):
                self.finding(
                    op.key,
                    f"auth:{name}-token",
                    "401 without a Bearer WWW-Authenticate challenge",
                    op.url(),
                    401,
                )

    def extra_paths(self) -> None:
        for path, method in (
            ("/docs", "GET"),
            ("/openapi.json", "GET"),
            ("/metrics", "GET"),
            ("/no-such-route", "GET"),
            ("/health", "TRACE"),
        ):
            response = self.send(f"{method} {path}", "security-headers", method, path)
            if response is not None and path == "/no-such-route" and response.status_code != 404:
                self.finding(
                    f"{method} {path}",
                    "security-headers",
                    f"expected 404, got {response.status_code}",
                    path,
                    response.status_code,
                )
