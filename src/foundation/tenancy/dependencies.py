"""Resolution of ``{tenantId}`` and ``X-Tenant-Id`` for tenant-scoped routes, and their rate limits.

Order matters and follows the contract: unknown path tenant → 404; missing or different header → 400;
only then is the tenant's rate-limit budget spent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from foundation.http.ratelimit import EndpointClass, enforce
from foundation.problems import Kinds, ProblemError
from foundation.tenancy.service import TenantDirectory, TenantRef

TENANT_HEADER = "X-Tenant-Id"
DEFAULT_TENANT_SLUG = "tenant-default"

TenantPath = Annotated[
    str,
    Path(
        alias="tenantId",
        description="Tenant UUID (any letter case) or slug.",
        min_length=1,
        max_length=64,
    ),
]
TenantHeader = Annotated[
    str | None,
    Header(alias=TENANT_HEADER, description="Tenant UUID or slug; must name the same tenant as the path."),
]


def directory(request: Request) -> TenantDirectory:
    return request.app.state.tenants  # type: ignore[no-any-return]


async def _lookup(request: Request, identifier: str) -> TenantRef | None:
    return await directory(request).find(identifier)


def _remember(request: Request, tenant: TenantRef) -> None:
    request.state.tenant = tenant


async def path_tenant(request: Request, tenant_id: TenantPath, x_tenant_id: TenantHeader = None) -> TenantRef:
    tenant = await _lookup(request, tenant_id)
    if tenant is None:
        raise ProblemError(Kinds.tenant_not_found, f"Tenant {tenant_id!r} does not exist.")
    if x_tenant_id is None:
        raise ProblemError(Kinds.tenant_header, f"The {TENANT_HEADER} header is required.")
    header_tenant = await _lookup(request, x_tenant_id)
    if header_tenant is None or header_tenant.id != tenant.id:
        raise ProblemError(Kinds.tenant_header, f"The {TENANT_HEADER} header does not name the path's tenant.")
    _remember(request, tenant)
    return tenant


async def optional_header_tenant(request: Request, x_tenant_id: TenantHeader = None) -> TenantRef | None:
    """Stories: the header is optional; when present it must name a known tenant."""
    if x_tenant_id is None:
        return None
    tenant = await _lookup(request, x_tenant_id)
    if tenant is None:
        raise ProblemError(Kinds.tenant_not_found, f"Tenant {x_tenant_id!r} does not exist.")
    _remember(request, tenant)
    return tenant


async def default_tenant(request: Request) -> TenantRef:
    tenant = await _lookup(request, DEFAULT_TENANT_SLUG)
    if tenant is None:
        raise ProblemError(Kinds.tenant_not_found, "The default tenant is not provisioned (run `foundation seed`).")
    return tenant


def limited_path_tenant(endpoint: EndpointClass) -> Callable[..., Awaitable[TenantRef]]:
    async def dependency(request: Request, tenant: Annotated[TenantRef, Depends(path_tenant)]) -> TenantRef:
        await enforce(request, tenant.key, tenant.slug, endpoint)
        return tenant

    return dependency


def limited_stories_tenant(endpoint: EndpointClass) -> Callable[..., Awaitable[TenantRef | None]]:
    """Header tenant (or none) for stories; the budget is the header tenant's, else tenant-default's
    for reads and a shared platform bucket for writes."""

    async def dependency(
        request: Request, tenant: Annotated[TenantRef | None, Depends(optional_header_tenant)]
    ) -> TenantRef | None:
        if tenant is not None:
            await enforce(request, tenant.key, tenant.slug, endpoint)
        elif endpoint is EndpointClass.stories_read:
            fallback = await default_tenant(request)
            await enforce(request, fallback.key, fallback.slug, endpoint)
        else:
            await enforce(request, "platform", "none", endpoint)
        return tenant

    return dependency
