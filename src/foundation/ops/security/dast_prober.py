"""The probing client of the DAST run: operations read from the OpenAPI document, requests that are checked
for a 5xx, the security headers and leaked internals on every answer, findings collected by endpoint."""

from __future__ import annotations

import re
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from foundation.ops.security.dast_headers import header_problems, leak_problem
from foundation.ops.security.dast_server import ALFA

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

    def matches(self, path: str) -> bool:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.path))
        return re.fullmatch(pattern, path) is not None

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
class ProberBase:
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

    def auth(self, token: str = "platform", tenant: str | None = ALFA) -> dict[str, Any]:  # noqa: S107
        headers: dict[str, Any] = {"Authorization": f"Bearer {self.tokens[token]}"}
        if tenant is not None:
            # Header values travel as bytes; non-ASCII payloads are sent UTF-8 encoded, as a client would.
            headers["X-Tenant-Id"] = tenant.encode("utf-8")
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
