"""The one in-process cache of hot reads: whole answers of cacheable GET endpoints.

Bounds, both set by configuration and independent of the data:

* **Staleness.** An answer served at time t reflects every write committed before t − ``ttl``, in any process
  (``FOUNDATION_READ_CACHE_SECONDS``, the documented bound). An entry may be served while it is younger than
  ``ttl`` (the read that produced it *started* less than ``ttl`` ago), and after that, up to ``max_age``, only
  while the change feed (``foundation.read_changes``) has *confirmed* a moment later than t − ``ttl``: every
  write committed before that moment, in any process, has invalidated what it changed. Writes in this process
  invalidate their group at once (read-your-writes). Half-way through its life an entry is due for refresh:
  one request recomputes it while concurrent identical requests are still served the entry, so a hot key
  never expires for everyone at once (that stampede set the read p99 before).
* **Memory.** At most ``max_entries`` entries. Every entry lives exactly ``max_age``, so insertion order is
  expiry order: expired entries are dropped from the front on every insert, and when full the oldest goes
  first.

Entries are grouped by (kind, tenant); a writer invalidates one tenant's group of a kind, or the whole kind
when its write is visible to every tenant (global stories). A reader takes a :class:`Ticket` *before* reading
the database and stores with it, so an answer computed from data read before a write is never kept after
that write's invalidation (nor after :meth:`ReadCache.clear`). Only invalidations of the answer's own group
(or of its whole kind) refuse it: with thousands of tenants writing, one tenant's write must not keep every
other tenant's answers of that kind from being kept. Invalidations are numbered; the last number of at most
``max(max_entries, 1024)`` groups is remembered, and a group forgotten counts as invalidated at the newest
number forgotten (a ticket older than that is refused: safe, and rare).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

Group = tuple[str, Hashable]  # (kind, tenant)
Key = tuple[str, Hashable, Hashable]  # (kind, tenant, variant)


@dataclass(frozen=True)
class Ticket:
    kind: str
    invalidations: int  # how many invalidations had been numbered when the ticket was taken
    epoch: int
    started_at: float


@dataclass(frozen=True)
class _Entry:
    value: Any
    refresh_at: float
    bound_at: float  # served after this only while the change feed confirms
    expires_at: float


class ReadCache:
    def __init__(self, ttl: float, max_entries: int = 10_000, max_age: float | None = None) -> None:
        self.ttl = ttl
        self.max_age = max(ttl, max_age if max_age is not None else ttl)
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._groups: dict[Group, set[Hashable]] = {}
        self._invalidations = 0  # invalidations numbered so far
        self._kind_invalidated: dict[str, int] = {}  # kind → number of its last whole-kind invalidation
        self._group_invalidated: dict[Group, int] = {}  # (kind, tenant) → number of its last, in number order
        self._forgotten_up_to = 0  # the newest number of a group dropped from _group_invalidated
        self._epoch = 0
        self._confirmed_at: float | None = None  # every write committed before it has been applied

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self, kind: str) -> Ticket:
        """Call before reading what will be stored under ``kind``."""
        return Ticket(kind, self._invalidations, self._epoch, time.monotonic())

    def lookup(self, kind: str, tenant: Hashable, variant: Hashable) -> tuple[Any, bool] | None:
        """``(value, refresh_due)``, or None when absent or expired."""
        entry = self._entries.get((kind, tenant, variant))
        if entry is None:
            return None
        now = time.monotonic()
        if now >= entry.expires_at:
            return None
        if now >= entry.bound_at and (self._confirmed_at is None or self._confirmed_at < now - self.ttl):
            return None  # older than the bound, and the feed has not confirmed recently enough
        return entry.value, now >= entry.refresh_at

    def put(self, tenant: Hashable, variant: Hashable, value: Any, ticket: Ticket) -> None:
        """Keep ``value`` unless its group (or its whole kind) was invalidated since the ticket was taken."""
        if not self.enabled or ticket.epoch != self._epoch or self._invalidated_since(ticket, tenant):
            return
        expires_at = ticket.started_at + self.max_age
        now = time.monotonic()
        if now >= expires_at:
            return
        self._drop_expired(now)
        key = (ticket.kind, tenant, variant)
        self._entries.pop(key, None)
        refresh_at = ticket.started_at + self.max_age / 2
        self._entries[key] = _Entry(value, refresh_at, ticket.started_at + self.ttl, expires_at)
        self._groups.setdefault((ticket.kind, tenant), set()).add(variant)
        while len(self._entries) > self.max_entries:
            self._remove(next(iter(self._entries)))

    def discard(self, kind: str, tenant: Hashable, variant: Hashable) -> None:
        if (kind, tenant, variant) in self._entries:
            self._remove((kind, tenant, variant))

    def invalidate(self, kind: str, tenant: Hashable = None) -> None:
        """Drop one tenant's entries of ``kind``, or every tenant's when ``tenant`` is None."""
        self._invalidations += 1
        if tenant is None:
            self._kind_invalidated[kind] = self._invalidations
        else:
            self._group_invalidated.pop((kind, tenant), None)  # re-inserted last: the dict stays in number order
            self._group_invalidated[(kind, tenant)] = self._invalidations
            while len(self._group_invalidated) > max(self.max_entries, 1024):
                oldest = next(iter(self._group_invalidated))
                self._forgotten_up_to = self._group_invalidated.pop(oldest)
        groups = [(kind, tenant)] if tenant is not None else [g for g in self._groups if g[0] == kind]
        for group in groups:
            for variant in self._groups.pop(group, ()):
                self._entries.pop((*group, variant), None)

    def _invalidated_since(self, ticket: Ticket, tenant: Hashable) -> bool:
        group_last = self._group_invalidated.get((ticket.kind, tenant), self._forgotten_up_to)
        return max(group_last, self._kind_invalidated.get(ticket.kind, 0)) > ticket.invalidations

    def confirm(self, at: float) -> None:
        """The change feed applied every write committed before ``at`` (a ``time.monotonic()`` value)."""
        if self._confirmed_at is None or at > self._confirmed_at:
            self._confirmed_at = at

    def unconfirmed_for(self, now: float) -> float:
        """Seconds since the last confirmed moment (infinite before the first)."""
        return float("inf") if self._confirmed_at is None else now - self._confirmed_at

    def clear(self) -> None:
        """Drop every entry and every answer being computed (the feed may have missed writes)."""
        self._epoch += 1
        self._entries.clear()
        self._groups.clear()

    def _drop_expired(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires_at > now:
                return
            self._remove(key)

    def _remove(self, key: Key) -> None:
        del self._entries[key]
        variants = self._groups.get(key[:2])
        if variants is not None:
            variants.discard(key[2])
            if not variants:
                del self._groups[key[:2]]
