"""The live dashboard without Grafana: a tiny same-origin server for the static page.

Why our own page rather than Prometheus console templates: Debian's ``prometheus`` package ships the console
templates without the JavaScript graph libraries they need (and ``+ds`` builds strip vendored assets), and
console templates would duplicate the panel queries in Go templates. Our page reads the panels from the same
Python definitions as the Grafana JSON and the PNG renderer, needs no CDN (the browser may have no internet),
and the server proxies ``/api/v1/query_range`` to Prometheus so the page stays same-origin (no CORS flags).

Every dashboard of ``panels.DASHBOARDS`` is served by the same page: ``/`` shows the first one (the
observability dashboard), ``/?dashboard=<slug>`` any other (``iabank-success-criteria``); the page reads
``/panels.json?dashboard=<slug>``, whose ``dashboards`` list gives the links between them. An unknown slug
answers 404.

Run: ``python -m foundation.ops.dashboards.server --port 3000 --prometheus http://127.0.0.1:9090``
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from foundation.ops.dashboards.panels import DASHBOARDS, Dashboard

_STATIC = {
    "/": "index.html",
    "/index.html": "index.html",
    "/dashboard.js": "dashboard.js",
    "/dashboard.css": "dashboard.css",
}
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}
_PROXIED = ("/api/v1/query_range", "/api/v1/query")


def dashboard_url(dashboard: Dashboard) -> str:
    """The live page of ``dashboard``, relative to the server's root (the first dashboard is ``./``)."""
    return "./" if dashboard is DASHBOARDS[0] else f"./?dashboard={quote(dashboard.slug)}"


def find_dashboard(slug: str | None) -> Dashboard | None:
    if not slug:
        return DASHBOARDS[0]
    return next((board for board in DASHBOARDS if board.slug == slug), None)


def panels_document(dashboard: Dashboard = DASHBOARDS[0], refresh_seconds: int = 5) -> dict[str, object]:
    return {
        "slug": dashboard.slug,
        "uid": dashboard.uid,
        "title": dashboard.title,
        "refreshSeconds": refresh_seconds,
        "panels": [asdict(p) for p in dashboard.panels],
        "dashboards": [
            {"slug": board.slug, "title": board.title, "url": dashboard_url(board)} for board in DASHBOARDS
        ],
    }


def make_handler(prometheus_url: str) -> type[BaseHTTPRequestHandler]:
    client = httpx.Client(base_url=prometheus_url.rstrip("/"), timeout=15.0)

    class Handler(BaseHTTPRequestHandler):
        server_version = "foundation-dashboard/1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path in _STATIC:
                name = _STATIC[parts.path]
                body = resources.files("foundation.ops.dashboards").joinpath("static", name).read_bytes()
                self._send(200, body, _TYPES["." + name.rsplit(".", 1)[1]])
            elif parts.path == "/panels.json":
                slug = parse_qs(parts.query).get("dashboard", [""])[0]
                board = find_dashboard(slug)
                if board is None:
                    error = {"status": "error", "error": f"unknown dashboard {slug!r}"}
                    self._send(404, json.dumps(error).encode(), "application/json")
                else:
                    self._send(200, json.dumps(panels_document(board)).encode(), "application/json")
            elif parts.path == "/health":
                self._send(200, b'{"status": "ok"}', "application/json")
            elif parts.path in _PROXIED:
                try:
                    upstream = client.get(parts.path + ("?" + parts.query if parts.query else ""))
                    self._send(upstream.status_code, upstream.content, "application/json")
                except httpx.HTTPError as exc:
                    error = {"status": "error", "errorType": "unavailable", "error": str(exc)}
                    self._send(502, json.dumps(error).encode(), "application/json")
            else:
                self._send(404, b'{"status": "error", "error": "not found"}', "application/json")

    return Handler


def serve(host: str, port: int, prometheus_url: str) -> None:
    server = ThreadingHTTPServer((host, port), make_handler(prometheus_url))
    server.daemon_threads = True
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="IABank Foundation live dashboard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.prometheus)


if __name__ == "__main__":
    main()
