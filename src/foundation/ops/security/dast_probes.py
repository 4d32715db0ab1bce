"""Targeted DAST probes against the running API, driven by its OpenAPI document.

Every response of every probe is also checked for a 5xx, the security headers and leaked internals. Probes:
injection payloads in every path and query parameter (and X-Tenant-Id), oversized and deeply nested bodies,
CR/LF header injection (raw socket, so the client cannot sanitise it), method-override headers, cross-tenant
access with a token bound to another tenant, and missing, expired, foreign-key and malformed tokens.
"""

from __future__ import annotations

import base64
import json
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from foundation.ops.security.dast_headers import header_problems, leak_problem
from foundation.ops.security.dast_server import ALFA, BETA

INJECTIONS = (
    "' OR '1'='1",
    "1; DROP TABLE tenants; --",
    '" OR ""="',
    "../../../../etc/passwd",
    "<script>alert(1)</script>",
    "{{7*7}}${7*7}",
    "${jndi:ldap://127.0.0.1:9/a}",
    "%25n%25s%25x",
    "\u202e\ufeffé漢字",
    "A" * 4096,
)
OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")
BASELINE = {"tenantId": ALFA, "version": "9.9.9", "featureSlug": "dast-probe"}
PUBLIC_PATHS = ("/health", "/health/ready")


@dataclass
class Operation:
    method: str
    path: str
    path_params: list[str]
    query_params: list[str]
    has_body: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, **values: str) -> str:
        path = self.path
        for name in self.path_params:
            path = path.replace("{" + name + "}", quote(values.get(name, BASELINE.get(name, "x")), safe=""))
        return path


def operations(openapi: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in openapi.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            params = [*item.get("parameters", []), *op.get("parameters", [])]
            found.append(
                Operation(
                    method.upper(),
                    path,
                    [p["name"] for p in params if p.get("in") == "path"],
                    [p["name"] for p in params if p.get("in") == "query"],
                    "requestBody" in op,
                )
            )
    return found


@dataclass
class Prober:
    base_url: str
    tokens: dict[str, str]
    max_body_bytes: int = 1024 * 1024
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    requests: int = 0
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30.0)

    def close(self) -> None:
        self.client.close()

    def finding(self, endpoint: str, probe: str, detail: str, request: str, status: int | None) -> None:
        self.findings[endpoint].append(
            {"probe": probe, "detail": detail, "request": request, "status": status}
        )

    def auth(self, token: str = "platform", tenant: str | None = ALFA) -> dict[str, str]:  # noqa: S107
        headers = {"Authorization": f"Bearer {self.tokens[token]}"}
        if tenant is not None:
            headers["X-Tenant-Id"] = tenant
        return headers

    def send(self, endpoint: str, probe: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        self.requests += 1
        described = f"{method} {url}"
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.finding(endpoint, probe, f"no answer: {type(exc).__name__}: {exc}", described, None)
            return None
        self.check_response(
            endpoint, probe, described, response.status_code, dict(response.headers), response.text
        )
        return response

    def check_response(
        self, endpoint: str, probe: str, described: str, status: int, headers: dict[str, str], body: str
    ) -> None:
        if status >= 500:
            self.finding(endpoint, probe, f"server error {status}: {body[:200]}", described, status)
        problems = header_problems(urlsplit(described.split(" ", 1)[1]).path, headers)
        if problems:
            self.finding(endpoint, probe, "security headers: " + "; ".join(problems), described, status)
        leak = leak_problem(body)
        if leak:
            self.finding(endpoint, probe, leak, described, status)

    # --- probes -------------------------------------------------------------------------------------------

    def injection(self, op: Operation) -> None:
        for payload in INJECTIONS:
            for name in op.path_params:
                url = op.url(**{name: payload})
                response = self.send(
                    op.key, f"injection:path:{name}", op.method, url, headers=self.auth(), json={}
                )
                if response is not None and name == "tenantId" and response.status_code < 400:
                    self.finding(
                        op.key,
                        "injection:path:tenantId",
                        "an injected tenant id was accepted",
                        url,
                        response.status_code,
                    )
            for name in op.query_params:
                self.send(
                    op.key,
                    f"injection:query:{name}",
                    op.method,
                    op.url(),
                    params={name: payload},
                    headers=self.auth(),
                )
            if op.path_params or op.method == "GET":
                response = self.send(
                    op.key,
                    "injection:header:X-Tenant-Id",
                    op.method,
                    op.url(),
                    headers=self.auth(tenant=payload),
                )
                if response is not None and response.status_code < 400:
                    self.finding(
                        op.key,
                        "injection:header:X-Tenant-Id",
                        "an injected tenant header was accepted",
                        op.url(),
                        response.status_code,
                    )

    def oversized(self, op: Operation) -> None:
        if not op.has_body:
            return
        headers = {**self.auth(), "Content-Type": "application/json", "Idempotency-Key": "dast-oversized"}
        big = b'{"x":"' + b"A" * (self.max_body_bytes + 1) + b'"}'
        response = self.send(op.key, "oversized-body", op.method, op.url(), headers=headers, content=big)
        if response is not None and response.status_code != 413:
            self.finding(
                op.key,
                "oversized-body",
                f"expected 413, got {response.status_code}",
                op.url(),
                response.status_code,
            )
        chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
        response = self.send(
            op.key, "oversized-chunked-body", op.method, op.url(), headers=headers, content=chunks
        )
        if response is not None and response.status_code != 413:
            self.finding(
                op.key,
                "oversized-chunked-body",
                f"expected 413, got {response.status_code}",
                op.url(),
                response.status_code,
            )
        deep = b"[" * 5000 + b"]" * 5000
        response = self.send(op.key, "deeply-nested-body", op.method, op.url(), headers=headers, content=deep)
        if response is not None and response.status_code != 400:
            self.finding(
                op.key,
                "deeply-nested-body",
                f"expected 400, got {response.status_code}",
                op.url(),
                response.status_code,
            )

    def raw(self, endpoint: str, probe: str, request: bytes) -> tuple[int, dict[str, str]] | None:
        """One request written byte for byte; (status, headers) of the answer, or None without one."""
        host, port = urlsplit(self.base_url).hostname or "127.0.0.1", urlsplit(self.base_url).port or 80
        self.requests += 1
        data = b""
        try:
            with socket.create_connection((host, port), timeout=10) as sock:
                sock.sendall(request)
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError as exc:
            if not data:
                self.finding(endpoint, probe, f"no answer: {exc}", request[:120].decode("latin-1"), None)
                return None
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ")[1])
        except (IndexError, ValueError):
            self.finding(
                endpoint, probe, f"unparseable answer {lines[0]!r}", request[:120].decode("latin-1"), None
            )
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        target = request.split(b" ", 2)[1].decode("latin-1")
        if status < 400 or status >= 500 or "content-security-policy" in headers:
            self.check_response(endpoint, probe, f"RAW {target}", status, headers, body.decode("latin-1"))
        return status, headers

    def header_injection(self, op: Operation) -> None:
        token = self.tokens["platform"].encode()
        host = (urlsplit(self.base_url).netloc).encode()
        injected = b"Set-Cookie: dast=1"
        cases = {
            "crlf-in-header": b"X-Tenant-Id: " + ALFA.encode() + b"\r\n" + injected,
            "bare-cr-in-header": b"Idempotency-Key: dast\r" + injected,
            "bare-lf-in-header": b"Idempotency-Key: dast\n" + injected,
        }
        path = op.url().encode()
        for probe, header in cases.items():
            request = (
                op.method.encode()
                + b" "
                + path
                + b" HTTP/1.1\r\nHost: "
                + host
                + b"\r\nAuthorization: Bearer "
                + token
                + b"\r\n"
                + header
                + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            answer = self.raw(op.key, f"header-injection:{probe}", request)
            if answer and "set-cookie" in answer[1]:
                self.finding(
                    op.key,
                    f"header-injection:{probe}",
                    "an injected header came back in the response",
                    probe,
                    answer[0],
                )
        for name in op.path_params:  # encoded CR/LF in a value the server may echo (Location, instance)
            url = op.url(**{name: "x\r\nSet-Cookie: dast=1"})
            response = self.send(
                op.key, f"header-injection:path:{name}", op.method, url, headers=self.auth(), json={}
            )
            if response is not None and (
                "set-cookie" in response.headers or any("\n" in v for v in response.headers.values())
            ):
                self.finding(
                    op.key,
                    f"header-injection:path:{name}",
                    "CR/LF from the path reached a response header",
                    url,
                    response.status_code,
                )

    def method_override(self, op: Operation, all_ops: list[Operation]) -> None:
        methods_here = {o.method for o in all_ops if o.path == op.path}
        for other in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            if other == op.method:
                continue
            url = op.url()
            plain = self.send(op.key, "method-override:plain", other, url, headers=self.auth(), json={})
            for header in OVERRIDE_HEADERS:
                response = self.send(
                    op.key,
                    f"method-override:{header}",
                    other,
                    url,
                    headers={**self.auth(), header: op.method},
                    json={},
                )
                if plain is not None and response is not None and response.status_code != plain.status_code:
                    self.finding(
                        op.key,
                        f"method-override:{header}",
                        f"{other} with {header}: {op.method} answered {response.status_code}, plain {other} "
                        f"answered {plain.status_code} (the header changed the method)",
                        url,
                        response.status_code,
                    )
            if other not in methods_here and plain is not None and plain.status_code != 405:
                self.finding(
                    op.key,
                    "method-override:plain",
                    f"unsupported {other} answered {plain.status_code}",
                    url,
                    plain.status_code,
                )
        response = self.send(
            op.key,
            "method-override:_method",
            "POST",
            op.url(),
            params={"_method": op.method},
            headers=self.auth(),
            json={},
        )
        if "POST" not in methods_here and response is not None and response.status_code != 405:
            self.finding(
                op.key,
                "method-override:_method",
                f"POST ?_method={op.method} answered {response.status_code}",
                op.url(),
                response.status_code,
            )

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


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ``alg: none`` token (empty signature), built here rather than kept as text in the tree."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


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
