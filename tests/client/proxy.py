"""A reverse proxy on 127.0.0.1 in front of a real API that misbehaves on cue: for the requests whose
``METHOD path`` starts with a prefix it plays a list of steps in order (a Reply: answer it without
forwarding, as a restarting instance or a rate limiter would; Lost: forward it, then answer something else,
as a balancer losing the answer; None: forward it), then forwards the rest untouched. It records every
request and what the client was answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.client.scripted import Reply


@dataclass(frozen=True)
class Lost:
    """Forward the request (the API applies it), then answer ``reply`` instead of the API's answer."""

    reply: Reply


Step = Reply | Lost | None


@dataclass
class Passed:
    method: str
    path: str
    status: int  # what the client was answered
    forwarded: bool
    at: float


@dataclass
class Proxy:
    upstream: str
    steps: dict[str, list[Step]]
    passed: list[Passed] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def step_for(self, method: str, path: str) -> Step:
        with self.lock:
            for prefix, queue in self.steps.items():
                if f"{method} {path}".startswith(prefix) and queue:
                    return queue.pop(0)
        return None

    def of(self, method: str, prefix: str = "") -> list[Passed]:
        return [p for p in self.passed if p.method == method and p.path.startswith(prefix)]


@contextmanager
def flaky_proxy(upstream: str, steps: dict[str, list[Step]]) -> Iterator[Proxy]:
    proxy = Proxy(upstream, {prefix: list(queue) for prefix, queue in steps.items()})

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            step = proxy.step_for(self.command, self.path)
            answer = None
            if not isinstance(step, Reply):
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                answer = httpx.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body, timeout=30
                )
            reply = step.reply if isinstance(step, Lost) else step
            if reply is not None:
                status, headers_out, content = reply.status, list(reply.headers.items()), reply.body
            else:
                assert answer is not None
                status, headers_out, content = (
                    answer.status_code,
                    list(answer.headers.items()),
                    answer.content,
                )
            proxy.passed.append(Passed(self.command, self.path, status, answer is not None, time.monotonic()))
            self._send(status, headers_out, content)

        do_GET = do_PUT = do_POST = _forward

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
