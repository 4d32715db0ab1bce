"""Scopes each route needs (OAuth2 client credentials, see the API contract).

Every route declares its scopes with :func:`requires`. The check itself is delegated to the
authenticator installed on the app (``app.state.authenticator``): with ``FOUNDATION_AUTH=off`` it allows
everything, with ``jwt`` it verifies the bearer token. Handlers never change when enforcement does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam

if TYPE_CHECKING:
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
    # True when check_tenant can refuse something (lets callers skip work the check would need).
    binds_tenants: bool

    async def authorize(self, request: Request, any_of: tuple[str, ...]) -> None: ...

    async def check_tenant(self, request: Request, tenant: TenantRef | None) -> None: ...


class AllowAll:
    """``FOUNDATION_AUTH=off``: local/dev only; the server says so at start and on /health."""

    binds_tenants = False

    async def authorize(self, request: Request, any_of: tuple[str, ...]) -> None:
        return None

    async def check_tenant(self, request: Request, tenant: TenantRef | None) -> None:
        return None


def requires(*any_of: str) -> DependsParam:
    """Dependency: the caller needs at least one of these scopes."""
    unknown = set(any_of) - SCOPES.keys()
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}")

    async def check(request: Request) -> None:
        authenticator: Authenticator = request.app.state.authenticator
        await authenticator.authorize(request, any_of)

    check.required_scopes = any_of  # type: ignore[attr-defined]
    return Depends(check)


def route_scopes(dependant_calls: list[Any]) -> tuple[str, ...]:
    for call in dependant_calls:
        scopes = getattr(call, "required_scopes", None)
        if scopes:
            return tuple(scopes)
    return ()
