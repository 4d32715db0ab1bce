"""Replays answered from memory: the registrations this process has replayed, by (tenant, Idempotency-Key).

A registration's key keeps answering the same registration until the key expires, so a replay needs no
database read once the registration is known — with a random tenant per request the read it replaces was most
of a replay's cost. What can change is the registration's representation (a lifecycle event updates its
status), so each event records a change of kind :data:`KIND` for its tenant in its own transaction and every
process drops that tenant's kept keys (``foundation.read_changes``): a replay reflects events under the same
bound as every cached read (``FOUNDATION_READ_CACHE_SECONDS``). The entries live in the one read cache
(``http.read_cache``), with its memory bound, from a key's first replay on (not at creation, so a burst of new
registrations does not push cached reads out); the refusal of another payload under a known key is the
service's rule (:func:`service.key_reused`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from foundation.db import utcnow
from foundation.http.read_cache import ReadCache, Ticket
from foundation.scaffolds.lifecycle import REPRESENTATION_CHANGED
from foundation.scaffolds.service import Attempt, Outcome, Registration, Result, key_reused
from foundation.tenancy.service import TenantRef

KIND = REPRESENTATION_CHANGED


@dataclass(frozen=True)
class _Kept:
    fingerprint: str
    registration: Registration


class KeptKeys:
    def __init__(self, cache: ReadCache) -> None:
        self.cache = cache

    def answer(self, tenant: TenantRef, attempt: Attempt) -> Result | None:
        """The replay (or the 422) for a key this process has seen, or None when the database must answer."""
        found = self.cache.lookup(KIND, tenant.id, attempt.key)
        if found is None:
            return None
        kept: _Kept = found[0]
        if utcnow() >= kept.registration.key_expires_at:
            return None  # expired: the database frees the key
        refusal = key_reused(attempt, kept.fingerprint)
        return refusal if refusal is not None else replace(kept.registration, outcome=Outcome.replayed)

    def ticket(self) -> Ticket:
        """Take before the batch reads the database."""
        return self.cache.begin(KIND)

    def keep(self, tenant: TenantRef, attempt: Attempt, registration: Registration, ticket: Ticket) -> None:
        self.cache.put(tenant.id, attempt.key, _Kept(attempt.fingerprint, registration), ticket)

    def forget(self, tenant: TenantRef) -> None:
        """A lifecycle event of the tenant committed: its registrations' representations changed."""
        self.cache.invalidate(KIND, tenant.id)
