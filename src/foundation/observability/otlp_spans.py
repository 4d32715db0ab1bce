"""The OTLP/HTTP span exporter of the API: protobuf requests from ``otlp_encoding`` (the PII guard applied
while encoding), sent with the standard ``OTEL_EXPORTER_OTLP_*`` settings, retried within the timeout."""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Sequence

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from foundation.observability import otlp_env
from foundation.observability.otlp_encoding import SpanRequestEncoder

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class OtlpHttpSpanExporter(SpanExporter):
    """OTLP/HTTP protobuf span exporter configured by the standard variables: ``ENDPOINT``, ``HEADERS``,
    ``TIMEOUT`` (seconds, default 10), ``COMPRESSION`` (``gzip``/``none``), ``CERTIFICATE``,
    ``CLIENT_CERTIFICATE`` and ``CLIENT_KEY``, each in its ``OTEL_EXPORTER_OTLP_TRACES_*`` or
    ``OTEL_EXPORTER_OTLP_*`` form. Spans are scrubbed by the PII guard while being encoded.

    Retryable answers (429, 502, 503, 504) and connection failures are retried with exponential backoff
    until the timeout is spent; the batch is then reported failed (and counted as dropped by the caller).
    """

    def __init__(self) -> None:
        self.endpoint = otlp_env.endpoint("traces")
        self.timeout = float(otlp_env.setting("TIMEOUT") or 10)
        self.gzip = (otlp_env.setting("COMPRESSION") or "none").lower() == "gzip"
        headers = {
            "Content-Type": "application/x-protobuf",
            **parse_env_headers(otlp_env.setting("HEADERS") or "", liberal=True),
        }
        if self.gzip:
            headers["Content-Encoding"] = "gzip"
        client_cert, client_key = otlp_env.setting("CLIENT_CERTIFICATE"), otlp_env.setting("CLIENT_KEY")
        self._client = httpx.Client(
            headers=headers,
            timeout=self.timeout,
            verify=otlp_env.setting("CERTIFICATE") or True,
            cert=(client_cert, client_key) if client_cert and client_key else client_cert,
        )
        self._encoder = SpanRequestEncoder()
        self._stopped = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped.is_set():
            return SpanExportResult.FAILURE
        payload = self._encoder.encode(spans)
        if self.gzip:
            payload = gzip.compress(payload, compresslevel=5)
        deadline = time.monotonic() + self.timeout
        backoff = 0.5
        while True:
            try:
                status = self._client.post(self.endpoint, content=payload).status_code
            except httpx.HTTPError as error:
                retryable, reason = True, f"{type(error).__name__}: {error}"
            else:
                if 200 <= status < 300:
                    return SpanExportResult.SUCCESS
                retryable, reason = status in RETRYABLE_STATUSES, f"HTTP {status}"
            if not retryable or time.monotonic() + backoff > deadline or self._stopped.wait(backoff):
                log.warning(
                    "span export to %s failed (%s): %d spans dropped", self.endpoint, reason, len(spans)
                )
                return SpanExportResult.FAILURE
            backoff *= 2

    def shutdown(self) -> None:
        self._stopped.set()
        self._client.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
