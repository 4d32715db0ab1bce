"""The API's interactive docs page (/docs) with its Swagger UI assets served locally, for Lighthouse and axe.

FastAPI's /docs loads Swagger UI from cdn.jsdelivr.net; the machine generating the fixtures has no internet, so
that page paints nothing. This server renders the same HTML with FastAPI's own ``get_swagger_ui_html`` (same
title and OpenAPI document as the running API), pointing at a pinned ``swagger-ui-dist`` from npm.

Usage: python docs_page.py PORT API_URL SWAGGER_UI_DIST_DIR
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from fastapi.openapi.docs import get_swagger_ui_html

PORT, API, ASSETS = int(sys.argv[1]), sys.argv[2].rstrip("/"), Path(sys.argv[3])
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/docs":
            title = httpx.get(f"{API}/openapi.json", timeout=10).json()["info"]["title"]
            page = get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{title} - Swagger UI",
                swagger_js_url="/assets/swagger-ui-bundle.js",
                swagger_css_url="/assets/swagger-ui.css",
                swagger_favicon_url="/assets/favicon-32x32.png",
            )
            self._send(200, bytes(page.body), "text/html; charset=utf-8")
        elif self.path == "/openapi.json":
            self._send(200, httpx.get(f"{API}/openapi.json", timeout=10).content, "application/json")
        elif self.path.startswith("/assets/") and "/" not in self.path[len("/assets/") :]:
            path = ASSETS / self.path[len("/assets/") :]
            if path.is_file():
                self._send(200, path.read_bytes(), TYPES.get(path.suffix, "application/octet-stream"))
            else:
                self._send(404, b"not found", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
