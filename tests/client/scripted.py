"""A scripted HTTP server on 127.0.0.1 for client tests: answers requests from a list, records what came."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Script:
    """Replies by request order for paths starting with a prefix; unmatched requests get 404."""

    replies: dict[str, list[Reply]]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def reply_for(self, method: str, path: str) -> Reply:
        for prefix, queue in self.replies.items():
            if f"{method} {path}".startswith(prefix) and queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        return Reply(404, b'{"title":"not_found"}', {"Content-Type": "application/problem+json"})


@contextmanager
def scripted(replies: dict[str, list[Reply]]) -> Iterator[Script]:
    script = Script(replies)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.seen.append(Seen(self.command, self.path, dict(self.headers), body, time.monotonic()))
            reply = script.reply_for(self.command, self.path)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    script.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
