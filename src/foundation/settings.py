"""One typed settings object, read from ``FOUNDATION_*`` environment variables (and ``.env``).

Profiles: ``local`` (developer laptop, the default), ``test`` (the test suite) and ``production``.
Every field is documented in docs/configuration.md; keep the two in sync.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Profile(StrEnum):
    local = "local"
    test = "test"
    production = "production"


class AuthMode(StrEnum):
    off = "off"
    jwt = "jwt"


DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./var/foundation.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOUNDATION_", env_file=".env", extra="ignore")

    profile: Profile = Profile.local
    database_url: str = DEFAULT_SQLITE_URL
    # Owner connection used by `db upgrade` and `seed` (PostgreSQL: the schema owner).
    # Defaults to database_url.
    migration_database_url: str | None = None
    db_app_role: str = "foundation_app"
    db_app_password: str | None = None
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    # Seconds a request may wait for a connection / a statement before answering 503.
    db_timeout_seconds: float = Field(default=5.0, gt=0)

    # Authentication (docs/security.md). "off" is refused by the production profile.
    auth: AuthMode = AuthMode.off
    # JWKS with the token signing keys (ES256/RS256): a file path or an http(s) URL.
    auth_jwks: str | None = None
    # Local use only: also accept HS256 tokens signed with this shared secret (≥ 32 bytes;
    # refused by the production profile).
    auth_hs256_secret: str | None = None
    # Expected `iss` and `aud` claims.
    auth_issuer: str = "https://auth.iabank.local/"
    auth_audience: str = "iabank-foundation"
    # Clock skew allowed on exp/nbf/iat.
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # How long a fetched JWKS is used before it is fetched again.
    auth_jwks_cache_seconds: int = Field(default=300, ge=0)
    # A token with an unknown `kid` refetches the JWKS (key rotation) at most once per this many seconds.
    auth_jwks_refetch_seconds: int = Field(default=30, ge=0)
    # OAuth2 token endpoint advertised in the OpenAPI client-credentials security scheme.
    auth_token_url: str = "https://auth.iabank.local/oauth2/token"  # noqa: S105  # a URL, not a secret

    # Rate limits, requests per minute per tenant and endpoint class.
    rate_limit_enabled: bool = True
    rate_limit_scaffold_per_minute: int = Field(default=30, ge=1)
    # Not in the contract's defaults: GET of one registration (documented choice).
    rate_limit_scaffold_read_per_minute: int = Field(default=120, ge=1)
    rate_limit_theme_read_per_minute: int = Field(default=60, ge=1)
    rate_limit_metrics_read_per_minute: int = Field(default=60, ge=1)
    rate_limit_stories_read_per_minute: int = Field(default=120, ge=1)
    rate_limit_write_per_minute: int = Field(default=60, ge=1)
    # Shared counter store; memory when unset.
    redis_url: str | None = None
    # Prefix of the counter keys in Redis: deployments (or test runs) sharing one Redis keep separate budgets.
    rate_limit_key_prefix: str = Field(default="foundation", pattern=r"^[A-Za-z0-9:_-]{1,64}$")
    # What to do when Redis is unreachable: "open" lets requests through (warning metric + log line),
    # "closed" answers 503.
    rate_limit_redis_failure: str = Field(default="open", pattern="^(open|closed)$")
    # Counters kept in memory when Redis is not configured (one per tenant and endpoint class active in the
    # current minute); above it the counter whose window started first is forgotten (docs/configuration.md).
    rate_limit_memory_keys: int = Field(default=100_000, ge=10)
    # Who keeps the in-memory counters: "native" (http/ratelimit.WindowCounters, the same fixed windows at a
    # fraction of the CPU, docs/benchmarks.md) or "limits" (the library's MemoryStorage).
    rate_limit_memory_store: str = Field(default="native", pattern="^(native|limits)$")

    # SQLite: a thread checkpoints the WAL into the database file this often, off the event loop
    # (foundation/sqlite_checkpoint.py); the connections' own checkpoint then only bounds the WAL. 0: SQLite's
    # default, a checkpoint inside the commit that crosses 1,000 WAL pages, on the event loop.
    sqlite_checkpoint_interval_seconds: float = Field(default=0.1, ge=0, le=3600)

    idempotency_ttl_hours: int = Field(default=24, ge=1)
    # Expired idempotency records are deleted by a background task of the API every this many seconds (one
    # worker/instance at a time, in batches); unset: 3600, except the test profile (off); 0 turns it off.
    # `foundation db purge` does the same on demand.
    idempotency_purge_interval_seconds: float | None = Field(default=None, ge=0)
    idempotency_purge_batch_size: int = Field(default=1000, ge=1, le=100_000)
    # Answers of cacheable reads (current theme, tenant metrics, stories) are kept in process memory. The
    # staleness bound: a write committed in any process is seen by every read that starts this many seconds
    # later (in this process at once). 0 disables the cache.
    read_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # How long a kept answer may live while the change feed (foundation/read_changes.py) tells every process
    # which answers each write changed; without a live feed an answer lives read_cache_seconds. It is also the
    # bound for writes made outside Foundation (SQL by hand), which the feed does not see. Not above
    # read_cache_seconds: no feed runs.
    read_cache_max_age_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # At most this many kept answers per process (the oldest go first): memory does not grow with tenants.
    # 30,000: the three cached reads of 10,000 tenants (~2 KB each, docs/benchmarks.md, tenth sitting).
    read_cache_entries: int = Field(default=30_000, ge=0)
    # Tenants whose id/slug lookups are kept per process (least recently used leave first).
    tenant_cache_size: int = Field(default=10_000, ge=0)
    # Answer direct endpoints (scaffold POST) without the framework's routing (admission/direct.py).
    direct_dispatch: bool = True

    # Observability.
    metrics_enabled: bool = True
    tracing_enabled: bool = True
    # Tenant-labelled series (request and registration counters, SC-001 __all__) are kept for at most this
    # many tenants, the busiest; the others are summed into tenant="__other__" (docs/observability.md).
    metrics_max_tenants: int = Field(default=100, ge=0, le=100_000)
    # Per-feature SC-001 series: the most recent N registered features across all tenants.
    metrics_sc001_recent_features: int = Field(default=100, ge=0, le=10_000)
    # A rendered /metrics answer is reused this long by its worker; concurrent scrapes share one render
    # whatever this is. Unset: 1 s, except the test profile (0: every scrape renders).
    metrics_cache_seconds: float | None = Field(default=None, ge=0, le=60)
    # Bound on the database part of a scrape (its own connection); past it, SC-001 is left out and counted.
    metrics_db_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Every tenant's scorecard (foundation_sc_* families) is recomputed this often by a background task of
    # each worker, and scrapes serve the latest snapshot: its statement reads every sample of the window.
    # 0: on every scrape (exact, costly with many tenants). Unset: 60 s, except the test profile (0).
    metrics_scorecard_seconds: float | None = Field(default=None, ge=0, le=3600)
    # Bound on one background computation of the scorecard (its own connection, never the request pool).
    metrics_scorecard_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # At most this share of a worker's time goes to that computation: after one of d seconds the next starts
    # no sooner than d / share after it started (its cost grows with the samples of the window).
    metrics_scorecard_max_share: float = Field(default=0.1, gt=0, le=1)
    log_level: str = "INFO"
    log_json: bool = True
    # The access line of each request skips structlog's processors when they would not change it (same line,
    # ~4× cheaper: observability/access_log.py); false sends it through them like every other line.
    log_access_short_path: bool = True

    # Hardening.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2)
    # Whole-request deadline (body upload included); exceeded → 503 request_timeout.
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    # Browser origins allowed by CORS, comma-separated (e.g. https://app.iabank.local); none by default.
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Deployment-wide targets of the success-criteria scorecard (GET …/sc/summary); a tenant may override
    # them with PUT …/sc/targets. Defaults are the product's success criteria (docs/success-criteria.md).
    sc_target_sc001_minutes: float = Field(default=60.0, gt=0, le=1_000_000)
    sc_target_sc002_percent: float = Field(default=95.0, ge=0, le=100)
    sc_target_sc003_percent: float = Field(default=100.0, ge=0, le=100)
    sc_target_sc004_percent: float = Field(default=98.0, ge=0, le=100)
    sc_target_sc005_incidents: float = Field(default=0.0, ge=0, le=1_000_000)

    var_dir: Path = Path("var")

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list):
            for origin in value:
                if origin != "*" and (
                    not isinstance(origin, str)
                    or not origin.startswith(("http://", "https://"))
                    or origin.rstrip("/") != origin
                    or origin.count("/") != 2
                ):
                    raise ValueError(f"invalid CORS origin {origin!r}: use scheme://host[:port] or *")
        return value

    @property
    def effective_migration_url(self) -> str:
        return self.migration_database_url or self.database_url

    @property
    def metrics_cache_ttl(self) -> float:
        if self.metrics_cache_seconds is not None:
            return self.metrics_cache_seconds
        return 0.0 if self.profile is Profile.test else 1.0

    @property
    def metrics_scorecard_interval(self) -> float:
        """The effective scorecard refresh interval; 0 = computed on every scrape."""
        if self.metrics_scorecard_seconds is not None:
            return self.metrics_scorecard_seconds
        return 0.0 if self.profile is Profile.test else 60.0

    @property
    def purge_interval_seconds(self) -> float:
        """The effective background purge interval; 0 = off."""
        if self.idempotency_purge_interval_seconds is not None:
            return self.idempotency_purge_interval_seconds
        return 0.0 if self.profile is Profile.test else 3600.0

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
