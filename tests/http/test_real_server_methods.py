"""A real `foundation serve`: a method llhttp does not know reaches the app and gets api.md's 405 Problem
Details (with Allow and the usual headers), not uvicorn's text/plain 400; malformed input still gets 400."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.observability.servers import ALFA, Server, running_server, scrape, seeded_database, server_env

pytestmark = pytest.mark.integration

THEME = f"/api/v1/tenants/{ALFA}/themes/current"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("methods")
    env = server_env(seeded_database(tmp / "db"), tmp / "var")
    with running_server(env, tmp / "logs") as running:
        yield running


def request(method: str, path: str = THEME, extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tenant-Id: tenant-alfa\r\n{extra}\r\n".encode()


class Connection:
    """One keep-alive client connection; answers are read one at a time (pipelined ones too)."""

    def __init__(self, stream: socket.socket) -> None:
        self.stream, self.reader = stream, stream.makefile("rb")

    def send(self, payload: bytes) -> None:
        self.stream.send(payload)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """One HTTP/1.1 answer with a Content-Length body (every answer of this server)."""
        status_line = self.reader.readline().decode("latin-1")
        assert status_line, "connection closed before an answer"
        headers = {}
        while (line := self.reader.readline().decode("latin-1").rstrip("\r\n")) != "":
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        return int(status_line.split()[1]), headers, self.reader.read(int(headers["content-length"]))


@contextmanager
def connection(server: Server, payload: bytes) -> Iterator[Connection]:
    """A new connection to ``server`` that has sent ``payload``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stream:
        opened = Connection(stream)
        opened.send(payload)
        try:
            yield opened
        finally:
            opened.reader.close()


@pytest.mark.parametrize("method", ["FOO", "BREW", "X-CUSTOM.1"])
def test_an_unknown_method_is_the_apps_405_and_the_connection_stays_open(server: Server, method: str) -> None:
    with connection(server, request(method)) as stream:
        status, headers, body = stream.answer()
        assert status == 405, body
        assert headers["content-type"].startswith("application/problem+json")
        problem = json.loads(body)
        assert (problem["title"], problem["instance"]) == ("method_not_allowed", THEME)
        assert len(problem["traceId"]) == 32
        assert "GET" in [allowed.strip() for allowed in headers["allow"].split(",")]
        assert headers["x-content-type-options"] == "nosniff"

        stream.send(request("GET"))  # same connection, kept alive
        status, _, body = stream.answer()
        assert status == 200, body


def test_an_unknown_method_with_an_upgrade_header_is_not_upgraded(server: Server) -> None:
    upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    upgrade += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    with connection(server, request("FOO", extra=upgrade)) as stream:
        status, _, body = stream.answer()
        assert status == 405, body


def test_an_unknown_method_with_a_body_is_framed_by_its_content_length(server: Server) -> None:
    payload = request("FOO", extra="Content-Type: application/json\r\nContent-Length: 2\r\n") + b"{}"
    with connection(server, payload + request("GET")) as stream:
        assert stream.answer()[0] == 405
        assert stream.answer()[0] == 200  # the body was not read as the next request


def test_an_unknown_method_on_an_unknown_path_is_404(server: Server) -> None:
    with connection(server, request("FOO", path="/no/such/path")) as stream:
        status, headers, _ = stream.answer()
        assert status == 404
        assert headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("line", ["F{O", "FOO\x01", "A" * 40])
def test_a_method_that_is_not_an_http_token_is_still_a_plain_400(server: Server, line: str) -> None:
    with connection(server, request(line)) as stream:
        status, headers, _ = stream.answer()
        assert status == 400
        assert headers["connection"] == "close"


def test_unknown_methods_share_one_metric_label(server: Server) -> None:
    for method in ("PING", "PONG", "ZAP"):
        with connection(server, request(method)) as stream:
            assert stream.answer()[0] == 405
    families = scrape(server.url)
    methods = {
        sample.labels["method"]
        for family in families.values()
        for sample in family.samples
        if "method" in sample.labels
    }
    assert "_OTHER" in methods
    assert not methods & {"PING", "PONG", "ZAP"}
