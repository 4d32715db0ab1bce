"""uvicorn's httptools protocol: TCP_NODELAY on every connection, unknown methods passed to the app.

With several workers uvicorn binds the listening socket in the supervisor (protocol number 0), and the
standard asyncio loop only disables Nagle's algorithm on sockets that report ``IPPROTO_TCP``. Every response
whose headers and body are written separately then waited for the client's delayed ACK: measured 44 ms per
request, 23 requests per second on one connection, with ``--workers 2`` on the asyncio loop (uvloop sets the
option itself, one worker lets asyncio create the socket). Since workers listen on a socket each (made with
``IPPROTO_TCP``, see ``foundation.http.listeners``) this matters for ``--no-reuse-port`` and platforms
without a balancing ``SO_REUSEPORT``; the protocol stays the same everywhere so every mode is served alike.

llhttp only parses the methods it knows, and uvicorn answers any other (``FOO /path``) with its own
text/plain ``400`` before the app sees it, where api.md wants ``405 method_not_allowed`` with ``Allow``.
When a request starts with a syntactically valid method token llhttp rejects, the request is parsed again
with a stand-in method and the app is given the real one, so the answer is the app's Problem Details with
every header a normal answer has. Only a request line whose method arrives whole at the start of a read is
handled this way (what every client sends); anything else keeps uvicorn's 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL_PATH = "foundation.http.server_protocol:NoDelayHttpToolsProtocol"

# RFC 9110 §5.6.2 token, bounded so a junk "method" is not carried further than a normal one.
METHOD_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}")
# Any method llhttp parses with ordinary framing; the app never sees it.
STAND_IN_METHOD = b"GET"


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # not a TCP socket after all: nothing to disable
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    # An unknown method: parsed under a stand-in, answered by the app under its own name.
    _message_open = False
    _messages_completed = 0
    _original_method: str | None = None

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        message_open_before, completed_before = self._message_open, self._messages_completed
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            # Re-parse only when the rejected method is the first thing in this read (no request of this
            # read was already dispatched, none was half-parsed before it).
            method = data.partition(b" ")[0]
            first_in_read = not message_open_before and self._messages_completed == completed_before
            if not first_in_read or not METHOD_TOKEN.fullmatch(method):
                self._reject_invalid_request()
                return
            self._original_method = method.decode("ascii")
            self.parser = httptools.HttpRequestParser(self)
            with contextlib.suppress(AttributeError):  # httptools < 0.6.3, as uvicorn does
                self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
            super().data_received(STAND_IN_METHOD + data[len(method) :])
            return
        except httptools.HttpParserError:
            self._reject_invalid_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _reject_invalid_request(self) -> None:
        """What uvicorn answers to a request llhttp cannot parse."""
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def on_message_begin(self) -> None:
        self._message_open = True
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._message_open = False
        self._messages_completed += 1
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._original_method is not None:
            # The cycle reads scope["method"] when it runs, after this returns.
            self.scope["method"], self._original_method = self._original_method, None

    def _should_upgrade(self) -> bool:
        return self._original_method is None and super()._should_upgrade()
