"""HAProxy in front of the API instances: configuration, process (by PID) and runtime API.

The configuration (rendered by :func:`render`, written into the rehearsal's directory) is what a deployment
in front of several pods should do; each choice is explained next to it and in docs/operations.md
("Rehearsing several instances"):

* ``ready`` backend, health-checked on ``/health/ready`` every 500 ms (2 failures → down, 2 successes → up);
  a connection error on live traffic marks a server down at once (``observe layer4``), without waiting for
  the next check — that is what makes a killed instance drop out within one request.
* ``live`` backend: the same instances checked on ``/health`` (liveness). Used only while no instance is
  ready — i.e. the shared database is down: requests then reach the API, which answers its own 503 Problem
  with ``Retry-After`` (or a cached read) instead of the balancer's bare 503; the same idea as Envoy's panic
  threshold.
* ``retries 3`` + ``option redispatch 1`` + ``retry-on conn-failure empty-response`` +
  ``option http-buffer-request``: a request that could not be delivered (connection refused by a stopping
  instance) or got no answer at all (instance killed while the request was in flight, or an idle keep-alive
  connection closed by the server as it was reused) is sent again to another instance. HAProxy can only
  resend a request it still holds, hence ``http-buffer-request`` (the body is read before an instance is
  chosen). Every write of this API is safe to repeat (scaffold POSTs carry an ``Idempotency-Key``; theme and
  story PUTs are idempotent), but a POST without an ``Idempotency-Key`` is only retried when it never
  reached an instance (``disable-l7-retry``).
* ``timeout server 35s``: longer than the API's own request deadline (``FOUNDATION_REQUEST_TIMEOUT_SECONDS``,
  30 s) so the API, not the balancer, answers a slow request.
* What HAProxy answers itself (no instance alive: 503; an instance that answers garbage or nothing in
  time: 502/504) is a Problem in the contract's shape (``http-error``):
  ``application/problem+json``, the security headers, ``Retry-After`` on 5xx, and the ``traceparent``'s
  trace id (a random one otherwise). ``tune.bufsize 32768`` leaves room for the API's own 16 KiB header limit,
  so an oversized header block still gets the API's 431 (beyond 32 KiB, HAProxy's own HTML 400).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

READY_BACKEND = "ready"
LIVE_BACKEND = "live"

# The Problems HAProxy answers itself (no instance alive, a response it cannot read or that does not come
# in time), in the contract's shape: status -> (kind, title, detail). Errors HAProxy's HTTP parser raises
# before any rule runs (a header block over tune.bufsize: 400; a client too slow to send its headers: 408)
# keep HAProxy's built-in page: neither http-error nor errorfile applies to them (checked with 2.6).
_BALANCER_PROBLEMS = {
    500: ("internal", "internal_error", "An unexpected error occurred."),
    502: ("unavailable", "bad_gateway", "An API instance gave no valid answer; retry later."),
    503: ("unavailable", "service_unavailable", "No API instance is available; retry later."),
    504: ("unavailable", "gateway_timeout", "An API instance did not answer in time; retry later."),
}
_TRACEPARENT = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Content-Security-Policy", "\"default-src 'none'; frame-ancestors 'none'\""),
    ("Cache-Control", "no-store"),
)


def _http_errors() -> str:
    lines = []
    for status, (kind, title, detail) in _BALANCER_PROBLEMS.items():
        body = (
            f'{{"type":"https://iabank.local/problems/foundation/{kind}","title":"{title}","status":{status},'
            f'"detail":"{detail}","instance":"%[path]","traceId":"%[var(txn.trace_id)]"}}'
        )
        headers = [*_SECURITY_HEADERS, *((("Retry-After", "5"),) if status != 500 else ())]
        hdrs = " ".join(f"hdr {name} {value}" for name, value in headers)
        lines.append(
            f"    http-error status {status} content-type application/problem+json lf-string '{body}' {hdrs}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Backend:
    name: str
    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class Config:
    port: int
    servers: Sequence[Backend]
    runtime_socket: Path
    host: str = "127.0.0.1"
    log_requests: bool = True
    extra_global: Sequence[str] = field(default_factory=tuple)


def binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if found is None:
        raise RuntimeError("haproxy not found; install it with: sudo apt-get install -y haproxy")
    return found


def render(config: Config) -> str:
    """The haproxy.cfg text for ``config``."""
    ready = "\n".join(
        f"    server {s.name} {s.host}:{s.port} check observe layer4 error-limit 1 on-error mark-down"
        for s in config.servers
    )
    live = "\n".join(f"    server {s.name} {s.host}:{s.port} check" for s in config.servers)
    extra = "".join(f"    {line}\n" for line in config.extra_global)
    logging = "    log stderr format raw local0\n" if config.log_requests else ""
    return f"""# Generated by foundation.ops.rehearsal.haproxy (see that module and docs/operations.md).
global
    maxconn 4096
    nbthread 1
    # Room for the API's own header limit (FOUNDATION_MAX_HEADER_BYTES, 16 KiB): the API answers 431, not us.
    tune.bufsize 32768
    stats socket {config.runtime_socket} mode 600 level admin
{logging}{extra}
defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 1s
    timeout client 60s
    timeout server 35s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    # The whole request (up to tune.bufsize) is read before an instance is chosen: only a request HAProxy
    # still holds can be sent again. Without it, POSTs in flight on a killed instance were forwarded as they
    # streamed in and could not be retried: 1-2 clients per SIGKILL saw their connection closed, no answer.
    option http-buffer-request
{_http_errors()}

frontend api
    bind {config.host}:{config.port}
    # The trace id a balancer-made Problem reports: the incoming traceparent's, else a random one.
    acl valid_traceparent req.hdr(traceparent) -m reg {_TRACEPARENT}
    http-request set-var(txn.trace_id) req.hdr(traceparent),field(2,-) if valid_traceparent
    http-request set-var(txn.trace_id) uuid(4),regsub(-,,g) unless {{ var(txn.trace_id) -m found }}
    http-request disable-l7-retry if METH_POST !{{ req.hdr(Idempotency-Key) -m found }}
    use_backend {READY_BACKEND} if {{ nbsrv({READY_BACKEND}) gt 0 }}
    default_backend {LIVE_BACKEND}

backend {READY_BACKEND}
    balance roundrobin
    option httpchk
    http-check send meth GET uri /health/ready
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 500ms rise 2 fall 2
{ready}

backend {LIVE_BACKEND}
    balance roundrobin
    option httpchk
    http-check send meth GET uri /health
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s rise 1 fall 2
{live}
"""


def check(path: Path) -> None:
    """``haproxy -c``: raise with HAProxy's own message if the configuration is invalid."""
    result = subprocess.run([binary(), "-c", "-q", "-f", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"invalid HAProxy configuration {path}: {(result.stderr or result.stdout).strip()}"
        )


class HAProxy:
    """One HAProxy process in the foreground (``-db``), started and stopped by its PID."""

    def __init__(self, config: Config, directory: Path) -> None:
        self.config = config
        self.directory = directory
        self.path = directory / "haproxy.cfg"
        self.log = directory / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def start(self, timeout: float = 30) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path.write_text(render(self.config))
        check(self.path)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [binary(), "-db", "-f", str(self.path)], stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"haproxy exited with {self.process.returncode}: {self.log.read_text()[-2000:]}"
                )
            if self._accepts() and self.config.runtime_socket.exists():
                return
            time.sleep(0.05)
        raise TimeoutError(f"haproxy not listening on {self.url} after {timeout:.0f}s")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.config.host, self.config.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 10) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)  # hard stop: the rehearsal is over, nothing to drain
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)

    # --- runtime API (the admin socket) ------------------------------------------------------------------

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.config.runtime_socket))
            conn.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> list[dict[str, str]]:
        """``show stat`` rows (one per frontend, backend and server) as dictionaries."""
        text = self.command("show stat").lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    def server_states(self, backend: str = READY_BACKEND) -> dict[str, str]:
        """``{server name: status}`` of a backend, e.g. ``{"api1": "UP", "api2": "DOWN"}``."""
        return {
            row["svname"]: row["status"]
            for row in self.stats()
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def server_counters(self, backend: str = READY_BACKEND) -> dict[str, dict[str, int]]:
        """Per server of a backend: sessions served (``stot``), retries (``wretr``), redispatches
        (``wredis``), connection and response errors (``econ``, ``eresp``), current sessions (``scur``)."""
        wanted = ("stot", "wretr", "wredis", "econ", "eresp", "scur", "hrsp_5xx")
        return {
            row["svname"]: {key: int(row[key] or 0) for key in wanted}
            for row in self.stats()
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
        }
