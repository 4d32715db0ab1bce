"""create_app(): composes routers, middleware, error handlers and telemetry."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from foundation import db_role, docs_ui, health
from foundation.admission.direct import DirectDispatch
from foundation.admission.openapi import build_openapi
from foundation.admission.pipeline import AdmissionPipeline
from foundation.admission.response_cache import ResponseCacheMiddleware
from foundation.admission.routing import declared_routes
from foundation.auth.authenticator import JwtAuthenticator, check_security
from foundation.auth.scopes import AllowAll, Authenticator
from foundation.db import Database
from foundation.design_system.router import router as stories_router
from foundation.design_system.service import StoryService
from foundation.http import provide
from foundation.http.middleware import RequestEnvelope
from foundation.http.problems import install_problem_handlers
from foundation.http.ratelimit import RateLimiter
from foundation.http.read_cache import ReadCache
from foundation.http.request_guard import RequestGuard
from foundation.http.responses import JsonResponse
from foundation.observability import loop_lag, tracing
from foundation.observability.logging import configure_logging
from foundation.observability.scrape import MetricsEndpoint
from foundation.read_changes import build_feed
from foundation.scaffolds.registry import ScaffoldService
from foundation.scaffolds.retention import purge_periodically
from foundation.scaffolds.router import router as scaffolds_router
from foundation.settings import AuthMode, Profile, Settings, get_settings
from foundation.sqlite_checkpoint import checkpoint_periodically
from foundation.success_metrics.histograms import Sc001Reader, own_connection_engine
from foundation.success_metrics.router import router as metrics_router
from foundation.success_metrics.scorecard import ScorecardService
from foundation.success_metrics.scorecard_board import ScorecardBoard
from foundation.success_metrics.scorecard_metrics import ScorecardPart
from foundation.success_metrics.service import SampleService
from foundation.tenancy.service import TenantDirectory
from foundation.themes.router import router as themes_router
from foundation.themes.service import ThemeService

log = structlog.get_logger(component="foundation.app")

# Recent FastAPI versions make their own server spans and metrics whenever a global OpenTelemetry provider is
# set (e.g. under `opentelemetry-instrument`), which would double ours, and look the providers up on every
# request even when none is set. Traces and metrics here come from observability/, so it is switched off.
_WITHOUT_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI).parameters
    else {}
)

DESCRIPTION = """\
IABank Foundation API: per-tenant design tokens, the feature-scaffold registry (SC-001), success metrics
(SC-001…SC-005) and design-system stories.

Conventions: errors are RFC 9457 Problem Details (`application/problem+json`) with `traceId`; tenant-scoped
routes need `X-Tenant-Id` naming the path's tenant; list endpoints paginate with `page` and `page_size`
(alias `per_page`); ETags are weak and `If-None-Match` answers 304; rate limits are reported in
`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and enforced with 429 + `Retry-After`.
The NUL character (U+0000) is refused in every JSON string and query parameter (400 `invalid_request`).
"""


CORS_METHODS = ["GET", "PUT", "POST"]
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Tenant-Id",
    "Idempotency-Key",
    "If-None-Match",
    "traceparent",
    "tracestate",
]
CORS_EXPOSE_HEADERS = [
    "ETag",
    "Location",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "Idempotency-Key",
    "Idempotent-Replayed",
    "WWW-Authenticate",
]


def build_authenticator(settings: Settings) -> Authenticator:
    """AllowAll for ``off``, JwtAuthenticator for ``jwt``; raises ``InsecureConfiguration`` when the
    profile forbids the settings (production with auth off or with an HS256 secret)."""
    check_security(settings)
    if settings.auth is AuthMode.off:
        return AllowAll()
    return JwtAuthenticator.from_settings(settings)


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(
        settings.log_level, json_lines=settings.log_json, access_short_path=settings.log_access_short_path
    )
    authenticator = build_authenticator(settings)  # refuses insecure settings before anything is opened
    db = database or Database(settings.database_url, settings=settings)
    # Spans cost CPU on every request; they are only made when something will receive them.
    provider = (
        tracing.build_tracer_provider() if settings.tracing_enabled and tracing.export_configured() else None
    )
    services = build_services(settings, db, authenticator)
    app = FastAPI(
        title="IABank Foundation API",
        version="1.0.0",
        description=DESCRIPTION,
        default_response_class=JsonResponse,
        lifespan=_lifespan(settings, services, provider, dispose=database is None),
        redoc_url=None,
        docs_url=None,  # served by foundation.docs_ui from installed files (no CDN, no inline script)
        **_WITHOUT_NATIVE_TELEMETRY,
    )
    provide.install(app, services)
    for router in (
        health.router,
        themes_router,
        scaffolds_router,
        metrics_router,
        stories_router,
        docs_ui.router,
    ):
        app.include_router(router)
    app.router.routes.insert(0, health.metrics_route)
    install_problem_handlers(app)
    _add_middleware(app, settings, services)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    if provider is not None:
        tracing.instrument(app, db.engine, provider)  # the server span wraps everything below
    return app


def build_services(settings: Settings, db: Database, authenticator: Authenticator) -> dict[type, object]:
    """One instance of each service, shared by the handlers (through ``http.provide``) and the shortcuts."""
    cache = ReadCache(
        settings.read_cache_seconds, settings.read_cache_entries, settings.read_cache_max_age_seconds
    )
    tenants = TenantDirectory(db, cache_size=settings.tenant_cache_size)
    samples = SampleService(db, cache)
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    return {
        Settings: settings,
        Database: db,
        ReadCache: cache,
        TenantDirectory: tenants,
        AdmissionPipeline: AdmissionPipeline(tenants, authenticator, RateLimiter(settings)),
        ThemeService: ThemeService(db, cache),
        SampleService: samples,
        ScaffoldService: ScaffoldService(db, samples, idempotency_ttl=ttl, cache=cache),
        StoryService: StoryService(db, tenants, cache),
        ScorecardService: ScorecardService(db, settings),
        MetricsEndpoint: build_metrics_endpoint(settings),
    }


def build_metrics_endpoint(settings: Settings) -> MetricsEndpoint:
    """``/metrics``: SC-001 and the scorecard read over connections of their own (never the request pool)."""
    reader = Sc001Reader(
        settings.database_url,
        max_tenants=settings.metrics_max_tenants,
        recent_features=settings.metrics_sc001_recent_features,
        timeout_seconds=settings.metrics_db_timeout_seconds,
    )
    interval = settings.metrics_scorecard_interval
    timeout = settings.metrics_scorecard_timeout_seconds if interval else settings.metrics_db_timeout_seconds
    board = ScorecardBoard(own_connection_engine(settings.database_url, timeout, inline=False), settings)
    scorecard = ScorecardPart(
        board,
        max_tenants=settings.metrics_max_tenants,
        scrape_timeout=settings.metrics_db_timeout_seconds,
        refresh_seconds=interval,
        refresh_timeout=settings.metrics_scorecard_timeout_seconds,
        max_share=settings.metrics_scorecard_max_share,
    )
    return MetricsEndpoint(
        max_tenants=settings.metrics_max_tenants,
        cache_seconds=settings.metrics_cache_ttl,
        sc001=reader,
        scorecard=scorecard,
        background=[scorecard.run] if interval else [],
        disposables=[board.dispose],
    )


def _add_middleware(app: FastAPI, settings: Settings, services: dict[type, Any]) -> None:
    """The middleware stack, written once, outermost first, each with the reason for its place."""
    routes = declared_routes(app.routes)
    pipeline = services[AdmissionPipeline]
    stack: list[tuple[Any, dict[str, Any]]] = [
        # Browsers' preflights are answered before anything else looks at the request.
        *([(CORSMiddleware, _cors_options(settings))] if settings.cors_allow_origins else []),
        # Telemetry (RED metrics, access log), the deadline, the request guard, exceptions as Problems and the
        # headers of every answer, in one layer (http/middleware.py says why in that order).
        (
            RequestEnvelope,
            {
                "metrics_enabled": settings.metrics_enabled,
                "timeout_seconds": settings.request_timeout_seconds,
                "guard": RequestGuard(
                    max_body_bytes=settings.max_body_bytes,
                    max_header_bytes=settings.max_header_bytes,
                    max_json_depth=settings.max_json_depth,
                ),
            },
        ),
        # Kept answers of cacheable reads, after admission by the pipeline (admission/response_cache.py).
        (ResponseCacheMiddleware, {"routes": routes, "pipeline": pipeline, "cache": services[ReadCache]}),
        # Direct endpoints answered without routing, by the same pipeline and handler (admission/direct.py).
        *([(DirectDispatch, {"routes": routes, "pipeline": pipeline})] if settings.direct_dispatch else []),
    ]
    for middleware, options in reversed(stack):  # add_middleware puts each new one outermost
        app.add_middleware(middleware, **options)


def _cors_options(settings: Settings) -> dict[str, Any]:
    return {
        "allow_origins": settings.cors_allow_origins,
        "allow_methods": CORS_METHODS,
        "allow_headers": CORS_ALLOW_HEADERS,
        "expose_headers": CORS_EXPOSE_HEADERS,
        "allow_credentials": False,
        "max_age": 600,
    }


def _lifespan(settings: Settings, services: dict[type, Any], provider: Any, *, dispose: bool) -> Any:
    db: Database = services[Database]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auth is AuthMode.off:
            log.warning("authentication_disabled", detail="FOUNDATION_AUTH=off: every request is allowed")
        log.info("started", profile=settings.profile.value, database=db.engine.dialect.name)
        await db.warm_up(settings.db_pool_size)
        # Start-up objects (modules, schemas, routes) live forever; freezing them keeps every full garbage
        # collection from scanning ~120k objects — measured 127 ms pauses that set the p99 under load.
        await db_role.check_at_start(db.engine, production=settings.profile is Profile.production, log=log)
        gc.collect()
        gc.freeze()
        # The default young-generation threshold (700 net container allocations) is crossed by the objects of
        # ~50 requests in flight, not by garbage: 638 collections and 430 ms per 12 s of scaffold POSTs at 50
        # connections, 2 collections and 18 ms with 10,000 (refcounting frees almost everything anyway).
        gc.set_threshold(10_000, 10, 10)
        lag_watch = asyncio.create_task(loop_lag.watch()) if settings.metrics_enabled else None
        services[MetricsEndpoint].start()
        purge = _start_purge(settings, db)
        feed = build_feed(db.url, services[ReadCache], timeout=settings.db_timeout_seconds)
        follow = asyncio.create_task(feed.run(), name="read-changes") if feed is not None else None
        checkpoints = _start_checkpoints(settings, db)
        yield
        for task in (lag_watch, purge, follow, checkpoints):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if feed is not None:
            await feed.close()
        await services[MetricsEndpoint].close()
        tracing.shutdown(provider)
        if dispose:
            await db.dispose()

    return lifespan


def _start_purge(settings: Settings, db: Database) -> asyncio.Task[None] | None:
    """Expired idempotency records leave in short batches, one purger at a time (scaffolds/retention.py)."""
    interval = settings.purge_interval_seconds
    if interval <= 0:
        return None
    return asyncio.create_task(
        purge_periodically(db, interval, settings.idempotency_purge_batch_size), name="idempotency-purge"
    )


def _start_checkpoints(settings: Settings, db: Database) -> asyncio.Task[None] | None:
    """SQLite in a file: WAL checkpoints in a thread, not in commits on the loop (sqlite_checkpoint.py)."""
    path = db.engine.url.database if db.is_sqlite else None
    interval = settings.sqlite_checkpoint_interval_seconds
    if not path or path == ":memory:" or interval <= 0:
        return None
    return asyncio.create_task(
        checkpoint_periodically(path, interval, settings.db_timeout_seconds), name="sqlite-checkpoint"
    )
