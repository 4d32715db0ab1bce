"""Resolution of ``{tenantId}`` and ``X-Tenant-Id`` for tenant-scoped routes, and their rate limits.

Order matters and follows the contract: unknown path tenant → 404; missing or different header → 400;
then the token's tenant binding (403, see docs/security.md; a no-op with auth off); only then is the
tenant's rate-limit budget spent.
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


async def _check_binding(request: Request, tenant: TenantRef | None) -> None:
    """403 when the caller's token may not act on ``tenant`` (None: platform-wide data)."""
    await request.app.state.authenticator.check_tenant(request, tenant)


MAX_STORY_ITEMS_CHECKED = 500


async def _check_story_owners(request: Request) -> None:
    """Stories PUT: the caller must be allowed to act on every item's tenant (null: a global story).

    Reads the already-parsed JSON body; anything malformed is left to the route's validation (400).
    """
    if not getattr(request.app.state.authenticator, "binds_tenants", False):
        return
    try:
        payload = await request.json()
    except Exception:
        return
    stories = payload.get("stories") if isinstance(payload, dict) else None
    if not isinstance(stories, list):
        return
    identifiers: set[str | None] = set()
    for item in stories[:MAX_STORY_ITEMS_CHECKED]:
        if isinstance(item, dict):
            owner = item.get("tenantId")
            if owner is None or isinstance(owner, str):
                identifiers.add(owner)
    for identifier in sorted(identifiers, key=lambda value: value or ""):
        if identifier is None:
            await _check_binding(request, None)
            continue
        owner_ref = await _lookup(request, identifier)
        if owner_ref is not None:  # unknown tenants are reported by the route as 400
            await _check_binding(request, owner_ref)


async def path_tenant(request: Request, tenant_id: TenantPath, x_tenant_id: TenantHeader = None) -> TenantRef:
    tenant = await _lookup(request, tenant_id)
    if tenant is None:
        raise ProblemError(Kinds.tenant_not_found, f"Tenant {tenant_id!r} does not exist.")
    if x_tenant_id is None:
        raise ProblemError(Kinds.tenant_header, f"The {TENANT_HEADER} header is required.")
    header_tenant = await _lookup(request, x_tenant_id)
    if header_tenant is None or header_tenant.id != tenant.id:
        raise ProblemError(
            Kinds.tenant_header, f"The {TENANT_HEADER} header does not name the path's tenant."
        )
    await _check_binding(request, tenant)
    _remember(request, tenant)
    return tenant


async def optional_header_tenant(request: Request, x_tenant_id: TenantHeader = None) -> TenantRef | None:
    """Stories: the header is optional; when present it must name a known tenant."""
    if x_tenant_id is None:
        return None
    tenant = await _lookup(request, x_tenant_id)
    if tenant is None:
        raise ProblemError(Kinds.tenant_not_found, f"Tenant {x_tenant_id!r} does not exist.")
    await _check_binding(request, tenant)
    _remember(request, tenant)
    return tenant


async def default_tenant(request: Request) -> TenantRef:
    tenant = await _lookup(request, DEFAULT_TENANT_SLUG)
    if tenant is None:
        raise ProblemError(
            Kinds.tenant_not_found, "The default tenant is not provisioned (run `foundation seed`)."
        )
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
        if endpoint is not EndpointClass.stories_read:
            await _check_story_owners(request)
        if tenant is not None:
            await enforce(request, tenant.key, tenant.slug, endpoint)
        elif endpoint is EndpointClass.stories_read:
            fallback = await default_tenant(request)
            await _check_binding(request, fallback)
            await enforce(request, fallback.key, fallback.slug, endpoint)
        else:
            await enforce(request, "platform", "none", endpoint)
        return tenant

    return dependency
