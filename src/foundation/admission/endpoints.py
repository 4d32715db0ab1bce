"""Endpoint declarations: every per-request rule of an API operation, written once.

A declaration says who may call the operation (scopes), whose budget it spends (rate-limit class), how its
tenant is found, whether it needs an ``Idempotency-Key``, which JSON body and query parameters it takes,
whether its answers may be served from the read cache and whether the direct dispatcher may answer it. The
FastAPI route, the response cache, the direct dispatcher and the OpenAPI document all read it
(admission/routing.py); the checks themselves run in one place, the admission pipeline
(admission/pipeline.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel

from foundation.auth.scopes import SCOPES
from foundation.http.ratelimit import EndpointClass


class TenantSource(Enum):
    """Where an operation's tenant comes from (api.md §1 "Tenants")."""

    # ``{tenantId}`` in the path (404 when unknown); ``X-Tenant-Id`` required, naming the same tenant (400).
    path = "path"
    # Optional ``X-Tenant-Id`` (404 when unknown); without it the default tenant's view and budget.
    header_or_default = "header_or_default"
    # Optional ``X-Tenant-Id`` (404 when unknown); without it a platform-wide write on the platform budget.
    header_or_platform = "header_or_platform"


# Tenants a request body names (each must be one the caller's token may act on; None: platform-wide data).
BodyTenants = Callable[[Any], Iterable[str | None]]
# Called with (tenant, status) once a request of an operation is answered, whichever path answered it.
OutcomeHook = Callable[[Any, int], None]


@dataclass(frozen=True, eq=False)
class Endpoint:
    method: str
    path: str  # the route template, e.g. /api/v1/tenants/{tenantId}/themes/current
    scopes: tuple[str, ...]  # any one of them suffices
    budget: EndpointClass
    tenant: TenantSource = TenantSource.path
    idempotent: bool = False  # Idempotency-Key required (1..255 visible ASCII)
    body: type[BaseModel] | None = None  # JSON body, validated by the pipeline
    query: type[BaseModel] | None = None  # query parameters, validated by the pipeline
    body_tenants: BodyTenants | None = None
    cache: str | None = None  # read-cache kind: 200s (and 304s when conditional) may be answered from memory
    conditional: bool = False  # answers If-None-Match with 304
    direct: bool = False  # answered by the direct dispatcher, without framework routing
    on_answer: OutcomeHook | None = None

    def __post_init__(self) -> None:
        unknown = set(self.scopes) - SCOPES.keys()
        if unknown:
            raise ValueError(f"{self.method} {self.path}: unknown scopes {sorted(unknown)}")
        if self.cache is not None and self.method != "GET":
            raise ValueError(f"{self.method} {self.path}: only GET answers can be cached")
        if self.tenant is TenantSource.path and "{tenantId}" not in self.path:
            raise ValueError(f"{self.method} {self.path}: a path tenant needs {{tenantId}} in the path")

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"
