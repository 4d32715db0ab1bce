"""Attack probes: injection in every path and query parameter and in X-Tenant-Id, oversized and deeply nested
bodies, CR/LF header injection (raw socket, so no client sanitises it) and method-override headers."""

from __future__ import annotations

from urllib.parse import urlsplit

from foundation.ops.security.dast_prober import Operation, ProberBase
from foundation.ops.security.dast_server import ALFA

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


class AttackProbes(ProberBase):
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
        # Every method some route answers on this URL (a template such as {version} may match it too).
        methods_here = {o.method for o in all_ops if o.matches(op.url())}
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
