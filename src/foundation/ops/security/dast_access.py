"""Access probes: cross-tenant access with a token bound to another tenant, missing/expired/foreign-key/
malformed/unsigned tokens, public endpoints, and the security headers of the pages outside the document."""

from __future__ import annotations

import base64
import json
from typing import Any

from foundation.ops.security.dast_prober import PUBLIC_PATHS, Operation, ProberBase
from foundation.ops.security.dast_server import ALFA, BETA

STORIES_PATH = "/api/v1/design-system/stories"


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ``alg: none`` token (empty signature), built here rather than kept as text in the tree."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


class AccessProbes(ProberBase):
    def cross_tenant(self, op: Operation) -> None:
        """A tenant-beta token must never act on tenant alfa, nor see another tenant's stories."""
        if "tenantId" in op.path_params:
            self._cross_tenant_in_path(op)
        elif op.path == STORIES_PATH:
            self._cross_tenant_in_header(op)
        if op.method == "GET" and op.path == STORIES_PATH:
            self._own_view(op)

    def _cross_tenant_in_path(self, op: Operation) -> None:
        """A tenant-alfa path with a beta token: 403, or 400 when X-Tenant-Id disagrees with the path."""
        for label, header_tenant in (("X-Tenant-Id alfa", ALFA), ("X-Tenant-Id beta", BETA)):
            headers = self.auth("beta", header_tenant)
            response = self.send(op.key, "cross-tenant", op.method, op.url(), headers=headers, json={})
            if response is None:
                continue
            status = response.status_code
            if status < 400:
                message = f"a tenant-beta token acted on tenant-alfa ({label}): {status}"
            elif status not in (400, 403):
                message = f"expected 403 (or 400 for a mismatched header), got {status}"
            else:
                continue
            self.finding(op.key, "cross-tenant", message, op.url(), status)

    def _cross_tenant_in_header(self, op: Operation) -> None:
        headers = self.auth("beta", ALFA)
        response = self.send(op.key, "cross-tenant", op.method, op.url(), headers=headers, json={})
        if response is not None and response.status_code != 403:
            message = f"tenant-beta token with X-Tenant-Id alfa: expected 403, got {response.status_code}"
            self.finding(op.key, "cross-tenant", message, op.url(), response.status_code)

    def _own_view(self, op: Operation) -> None:
        headers = self.auth("beta", BETA)
        check = "cross-tenant:own-view"
        response = self.send(op.key, check, "GET", op.url(), headers=headers, params={"page_size": 100})
        if response is None or response.status_code != 200:
            return
        foreign = [i for i in response.json().get("data", []) if i.get("tenantId") not in (BETA, None)]
        if foreign:
            message = f"tenant-beta saw {len(foreign)} story(ies) of another tenant"
            self.finding(op.key, check, message, op.url(), 200)

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
