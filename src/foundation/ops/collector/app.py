"""The embedded OTLP/HTTP receiver: an ASGI app storing traces, metrics and logs as rotating JSON lines.

Follows OTLP/HTTP: 200 with an empty Export*ServiceResponse in the request's content type, 400 with a
``google.rpc.Status`` on undecodable payloads, 415 on unsupported content types or encodings.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.rpc import status_pb2
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from foundation.ops.collector.decode import (
    Encoding,
    PayloadError,
    Signal,
    content_encoding,
    encode_response,
    gunzip,
    iter_logs,
    iter_metric_points,
    iter_spans,
    parse_request,
)
from foundation.ops.collector.prometheus import CollectorMetrics, OtlpMetricStore
from foundation.ops.collector.storage import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILES, Storage

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_INVALID_ARGUMENT = 3  # google.rpc.Code.INVALID_ARGUMENT


class TooLarge(Exception):
    pass


class CollectorState:
    """Storage, Prometheus view and counters since start; shared by the request handlers."""

    def __init__(self, data_dir: Path, max_file_bytes: int, max_files: int, max_body_bytes: int) -> None:
        self.storage = Storage(data_dir, max_file_bytes, max_files)
        self.metric_store = OtlpMetricStore()
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.services: Counter[str] = Counter()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(CollectorMetrics(self.metric_store, self._own_counters))

    def _own_counters(self) -> dict[str, float]:
        with self._lock:
            return {
                "receiver_accepted_spans": self.counts["spans"],
                "receiver_accepted_metric_points": self.counts["metrics"],
                "receiver_accepted_log_records": self.counts["logs"],
                "receiver_refused_requests": self.counts["errors"],
            }

    def count_error(self) -> None:
        with self._lock:
            self.counts["errors"] += 1

    def ingest(self, signal: Signal, body: bytes, encoding: Encoding) -> None:
        """Decode, scrub (in ``decode``), store and count one export request. Runs in a worker thread."""
        message: Any = parse_request(signal, body, encoding)
        if signal == "traces":
            spans = list(iter_spans(message))
            self.storage.write("spans", spans)
            with self._lock:
                self.counts["spans"] += len(spans)
                for span in spans:
                    self.services[str(span["resource"].get("service.name", "unknown"))] += 1
        elif signal == "metrics":
            points = list(iter_metric_points(message))
            self.storage.write("metrics", points)
            self.metric_store.update(points)
            with self._lock:
                self.counts["metrics"] += len(points)
        else:
            records = list(iter_logs(message))
            self.storage.write("logs", records)
            with self._lock:
                self.counts["logs"] += len(records)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "spans": self.counts["spans"],
                "metrics": self.counts["metrics"],
                "logs": self.counts["logs"],
                "errors": self.counts["errors"],
                "services": dict(self.services),
                "dataDir": str(self.storage.data_dir),
            }


def _status_response(code: int, message: str, encoding: Encoding | None) -> Response:
    status = status_pb2.Status(code=_INVALID_ARGUMENT, message=message)
    if encoding == "protobuf":
        return Response(status.SerializeToString(), code, media_type="application/x-protobuf")
    return Response(json_format.MessageToJson(status), code, media_type="application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _receiver(signal: Signal) -> Any:
    async def receive(request: Request) -> Response:
        state: CollectorState = request.app.state.collector
        encoding = content_encoding(request.headers.get("content-type", ""))
        if encoding is None:
            state.count_error()
            return _status_response(
                415, "unsupported content type: use application/x-protobuf or application/json", None
            )
        compression = request.headers.get("content-encoding", "identity").strip().lower()
        if compression not in ("identity", "", "gzip"):
            state.count_error()
            return _status_response(415, f"unsupported content encoding: {compression}", encoding)
        try:
            body = await _read_body(request, state.max_body_bytes)
            if compression == "gzip":
                body = gunzip(body, state.max_body_bytes)
            await run_in_threadpool(state.ingest, signal, body, encoding)
        except TooLarge:
            state.count_error()
            return _status_response(413, f"body exceeds {state.max_body_bytes} bytes", encoding)
        except PayloadError as exc:
            state.count_error()
            return _status_response(400, str(exc), encoding)
        payload, media_type = encode_response(signal, encoding)
        return Response(payload, 200, media_type=media_type)

    return receive


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _stats(request: Request) -> Response:
    return JSONResponse(request.app.state.collector.stats())


async def _metrics(request: Request) -> Response:
    state: CollectorState = request.app.state.collector
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)


def create_collector_app(
    data_dir: Path,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """Build the ASGI app; its state (``app.state.collector``) lives as long as the app instance."""
    app = Starlette(
        routes=[
            Route("/v1/traces", _receiver("traces"), methods=["POST"]),
            Route("/v1/metrics", _receiver("metrics"), methods=["POST"]),
            Route("/v1/logs", _receiver("logs"), methods=["POST"]),
            Route("/health", _health, methods=["GET"]),
            Route("/stats", _stats, methods=["GET"]),
            Route("/metrics", _metrics, methods=["GET"]),
        ]
    )
    app.state.collector = CollectorState(Path(data_dir), max_file_bytes, max_files, max_body_bytes)
    return app
