"""OAuth2 scopes (see the API contract) and the authenticator interface.

Each endpoint declares its scopes (``admission.endpoints.Endpoint``); the admission pipeline asks the app's
authenticator to check them: with ``FOUNDATION_AUTH=off`` it allows everything, with ``jwt`` it verifies
the bearer token. Handlers never change when enforcement does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: `foundation auth token` reads SCOPES without importing FastAPI
    from fastapi import Request

    from foundation.tenancy.service import TenantRef

# A token without a ``tenant_id`` claim may act on any tenant only with this scope (platform pipelines).
PLATFORM_SCOPE = "platform.admin"

SCOPES: dict[str, str] = {
    "tokens.read": "Read design tokens (themes).",
    "tokens.write": "Publish theme versions.",
    "scaffolding.write": "Register feature scaffolds.",
    "metrics.read": "Read success metrics and scaffold registrations.",
    "metrics.write": "Ingest success-metric samples.",
    "design-system.read": "Read design-system stories.",
    "design-system.write": "Upsert design-system stories.",
    PLATFORM_SCOPE: "Tokens without a tenant_id claim: act on any tenant and on global stories.",
}


class Authenticator(Protocol):
    # True when authorize can refuse something; False: callers may skip it.
    enforces: bool
    # True when check_tenant can refuse something (lets callers skip it and the work it would need).
    binds_tenants: bool

    async def authorize(self, request: Request, any_of: tuple[str, ...]) -> None: ...

    async def check_tenant(self, request: Request, tenant: TenantRef | None) -> None: ...


class AllowAll:
    """``FOUNDATION_AUTH=off``: local/dev only; the server says so at start and on /health."""

    enforces = False
    binds_tenants = False

    async def authorize(self, request: Request, any_of: tuple[str, ...]) -> None:
        return None

    async def check_tenant(self, request: Request, tenant: TenantRef | None) -> None:
        return None
