"""Tenants: lookup by UUID or slug, provisioning, listing.

Lookups are cached per process: a tenant's id and slug never change, so a positive hit can be kept;
misses always go to the database so a tenant created by another process is seen at once. The cache holds
at most ``cache_size`` tenants (least recently used leave first), so memory does not grow with tenants.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from foundation.db import Database
from foundation.tenancy.models import Tenant

SLUG_PATTERN = re.compile(r"^[a-z0-9-]{1,32}$")
DEFAULT_TENANT_SLUG = "tenant-default"  # the stories' viewer when no X-Tenant-Id is sent
STATUSES = ("pilot", "production")


@dataclass(frozen=True)
class TenantRef:
    id: uuid.UUID
    slug: str
    name: str
    status: str
    # The canonical UUID text, made once: budgets, caches and labels use it on every request.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", str(self.id))


class TenantError(ValueError):
    """Invalid tenant input (bad slug, duplicate, unknown status)."""


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if len(value) in (32, 36) else None
    except ValueError:
        return None


class TenantDirectory:
    def __init__(self, db: Database, *, cache_size: int = 10_000) -> None:
        self.db = db
        self.cache_size = cache_size
        # Keyed by canonical UUID text and by slug: two entries per tenant.
        self._cache: OrderedDict[str, TenantRef] = OrderedDict()

    async def find(self, identifier: str) -> TenantRef | None:
        """Resolve a UUID (any case) or a slug."""
        cached = self.cached(identifier)
        if cached is not None:
            return cached
        identifier = identifier.strip()
        as_uuid = parse_uuid(identifier)
        if as_uuid is None and not SLUG_PATTERN.match(identifier):
            return None
        condition = Tenant.id == as_uuid if as_uuid else Tenant.slug == identifier
        async with self.db.read() as connection:
            row = (
                await connection.execute(
                    select(Tenant.id, Tenant.slug, Tenant.name, Tenant.status).where(condition)
                )
            ).first()
        if row is None:
            return None
        ref = TenantRef(row.id, row.slug, row.name, row.status)
        self._remember(ref)
        return ref

    def cached(self, identifier: str) -> TenantRef | None:
        """The tenant if this process has resolved it recently (no database query), else None."""
        hit = self._cache.get(identifier)
        if hit is None:
            as_uuid = parse_uuid(identifier.strip())
            hit = self._cache.get(str(as_uuid) if as_uuid else identifier.strip())
        if hit is not None:
            self._cache.move_to_end(hit.key)
            self._cache.move_to_end(hit.slug)
        return hit

    def _remember(self, ref: TenantRef) -> None:
        if self.cache_size <= 0:
            return
        self._cache[ref.key] = ref
        self._cache[ref.slug] = ref
        while len(self._cache) > 2 * self.cache_size:
            self._cache.popitem(last=False)

    async def list(self) -> list[TenantRef]:
        async with self.db.transaction() as session:
            rows = (await session.execute(select(Tenant).order_by(Tenant.slug))).scalars().all()
        return [_ref(row) for row in rows]

    async def create(
        self, slug: str, name: str, *, tenant_id: uuid.UUID | None = None, status: str = "pilot"
    ) -> TenantRef:
        if not SLUG_PATTERN.match(slug):
            raise TenantError(f"invalid slug {slug!r}: must match ^[a-z0-9-]{{1,32}}$")
        if status not in STATUSES:
            raise TenantError(f"invalid status {status!r}: must be one of {', '.join(STATUSES)}")
        if not name.strip() or len(name) > 200:
            raise TenantError("name must be 1..200 characters")
        tenant_id = tenant_id or uuid.uuid4()
        try:
            async with self.db.transaction(write=True) as session:
                clash = await session.execute(
                    select(Tenant.slug).where(or_(Tenant.slug == slug, Tenant.id == tenant_id))
                )
                if clash.first() is not None:
                    raise TenantError(f"a tenant with slug {slug!r} or id {tenant_id} already exists")
                session.add(Tenant(id=tenant_id, slug=slug, name=name.strip(), status=status))
        except IntegrityError as exc:
            raise TenantError(f"a tenant with slug {slug!r} or id {tenant_id} already exists") from exc
        return TenantRef(tenant_id, slug, name.strip(), status)


def _ref(row: Tenant) -> TenantRef:
    return TenantRef(row.id, row.slug, row.name, row.status)
