"""Counters with a ``tenant`` label, stored compactly and folded to the busiest tenants at scrape time.

``http_server_requests_total``, ``foundation_scaffold_registrations_total`` and
``foundation_rate_limited_total`` have a series per tenant. With prometheus_client's own counters, 50,000
series (10,000 tenants × 5) cost 63 MB of children in one worker and 4.5 s per multiprocess scrape (measured:
its merge parses a JSON key and builds a sample object per series and worker at every scrape). Here:

* each process keeps a slot per label set: an index into an array of doubles. Single process: the array
  is in memory. Multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, as prometheus_client): the array is a
  memory-mapped file ``tenant-series_<pid>.values`` and the label sets are appended, one JSON line per slot,
  to ``tenant-series_<pid>.keys``; both only grow, so a reader parses each key line once and afterwards reads
  the values with one ``array.frombytes`` per file.
* the scrape sums every process's files (:class:`SeriesReader`) and folds (:func:`fold`): above
  ``max_tenants`` tenants, the busiest keep their series and the rest are summed into ``tenant="__other__"``.
  Folding happens on the merged sums, so every worker that answers a scrape keeps the same tenants.

A process writes only its own files (one writer each; a counter is read-modify-write on this process's
array); readers may see a value a few increments old, never a torn one (8-byte aligned stores).
"""

from __future__ import annotations

import heapq
import json
import mmap
import os
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TENANT = "tenant"
OTHER_TENANT = "__other__"
NO_TENANT = "none"  # requests no tenant was resolved for: not a tenant, never folded
FILE_PREFIX = "tenant-series_"
_INITIAL_SLOTS = 4096

SeriesKey = tuple[str, tuple[str, ...]]  # (family name, label values in the family's label order)


class _FileValues:
    """This process's values in ``<dir>/tenant-series_<pid>.{keys,values}`` (see the module docstring)."""

    def __init__(self, directory: str, pid: int) -> None:
        base = os.path.join(directory, f"{FILE_PREFIX}{pid}")
        self._keys_fd = os.open(base + ".keys", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._values_fd = os.open(base + ".values", os.O_RDWR | os.O_CREAT, 0o644)
        # A pid reused within one run (a restarted worker) continues the dead process's counts.
        self.existing = ParsedKeys()
        self.existing.refresh(base + ".keys")
        size = os.fstat(self._values_fd).st_size
        self._slots = 0
        self.values: Any = None
        self._grow(max(_INITIAL_SLOTS, size // 8, len(self.existing.keys)))

    def _grow(self, slots: int) -> None:
        os.ftruncate(self._values_fd, slots * 8)
        mapped = mmap.mmap(self._values_fd, slots * 8)
        # The previous mapping stays valid until nothing refers to it; values already written are in the file.
        self.values = memoryview(mapped).cast("d")
        self._slots = slots

    def append(self, index: int, key: SeriesKey) -> None:
        if index >= self._slots:
            self._grow(self._slots * 2)
        # Values first (zeros), then the key line: a reader never pairs a key with a missing value.
        os.write(self._keys_fd, (json.dumps([key[0], list(key[1])]) + "\n").encode())


class SeriesStore:
    """The process's tenant-labelled series: ``slot()`` once per label set, then ``add()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[SeriesKey, int] = {}
        self._keys: list[SeriesKey] = []
        self._memory = array("d")
        self._file: _FileValues | None = None
        self._directory: str | None = None
        self._opened = False

    @property
    def directory(self) -> str | None:
        """The multiprocess directory this process writes to (None: in memory)."""
        self._open()
        return self._directory

    def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory and os.path.isdir(directory):
            self._directory = directory
            self._file = _FileValues(directory, os.getpid())
            for key in self._file.existing.keys:
                self._slots[key] = len(self._keys)
                self._keys.append(key)

    def slot(self, family: str, labels: tuple[str, ...]) -> int:
        key = (family, labels)
        with self._lock:
            self._open()
            index = self._slots.get(key)
            if index is None:
                index = len(self._keys)
                if self._file is not None:
                    self._file.append(index, key)
                else:
                    self._memory.append(0.0)
                self._keys.append(key)
                self._slots[key] = index
        return index

    def add(self, index: int, amount: float = 1.0) -> None:
        values = self._file.values if self._file is not None else self._memory
        values[index] += amount

    def local_keys(self) -> list[SeriesKey]:
        """This process's label sets, in slot order (single-process mode; else read the files)."""
        return self._keys[:]

    def local_array(self) -> array[float]:
        return self._memory[:]


STORE = SeriesStore()


class Child:
    __slots__ = ("_index",)

    def __init__(self, index: int) -> None:
        self._index = index

    def inc(self, amount: float = 1.0) -> None:
        STORE.add(self._index, amount)


@dataclass(frozen=True)
class TenantCounter:
    """A counter family with a ``tenant`` label; ``labels(...).inc()`` as with prometheus_client."""

    name: str  # with the _total suffix, as exposed
    documentation: str
    labelnames: tuple[str, ...]
    _children: dict[tuple[str, ...], Child] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if TENANT not in self.labelnames:
            raise ValueError(f"{self.name} has no {TENANT!r} label")
        FAMILIES[self.name] = self

    @property
    def tenant_index(self) -> int:
        return self.labelnames.index(TENANT)

    def labels(self, *values: str) -> Child:
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
            child = self._children[values] = Child(STORE.slot(self.name, tuple(map(str, values))))
        return child

    def slot(self, values: tuple[str, ...]) -> int:
        """The raw slot of a label set, for hot paths that cache it themselves."""
        return STORE.slot(self.name, values)


FAMILIES: dict[str, TenantCounter] = {}


@dataclass
class ParsedKeys:
    """Key lines of one ``.keys`` file parsed so far (the file only grows by whole lines)."""

    offset: int = 0
    keys: list[SeriesKey] = field(default_factory=list)

    def refresh(self, path: str) -> None:
        try:
            with open(path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return
        complete = data.rfind(b"\n") + 1  # a line being written is read at the next scrape
        for line in data[:complete].splitlines():
            family, labels = json.loads(line)
            self.keys.append((family, tuple(labels)))
        self.offset += complete


class SeriesReader:
    """Sums the series of every process into one :class:`Snapshot`, ranking tenants by ``ranking``'s sums.

    Every label set seen gets a small integer id once (parsing a key line, finding its tenant and the
    ``__other__`` series it folds into); a scrape is then one pass over lists of floats and ints per file —
    no tuple hashing per series — which sums each series, each tenant's activity and each ``__other__``
    series at once. Index 0 of the activity and ``__other__`` lists is a sink for series that have none.
    """

    def __init__(self, ranking: str = "http_server_requests_total") -> None:
        self.ranking = ranking
        self._files: dict[str, tuple[ParsedKeys, list[int]]] = {}
        self._ids: dict[SeriesKey, int] = {}
        self.series: list[SeriesKey] = []
        self.rank_of: list[int] = []  # per series id: 1 + its tenant's index if in `ranking`, else 0
        self.other_of: list[int] = []  # per series id: 1 + index into self.others, 0 if never folded
        self.tenants: list[str] = []
        self.tenant_series: list[list[int]] = []  # per tenant index: its series ids
        self._tenant_ids: dict[str, int] = {}
        self.others: list[SeriesKey] = []
        self._other_ids: dict[SeriesKey, int] = {}

    def _id(self, key: SeriesKey) -> int:
        found = self._ids.get(key)
        if found is not None:
            return found
        found = self._ids[key] = len(self.series)
        self.series.append(key)
        family = FAMILIES.get(key[0])
        if family is None:
            self.rank_of.append(0)
            self.other_of.append(0)
            return found
        index = family.tenant_index
        tenant = key[1][index]
        if tenant not in self._tenant_ids:
            self._tenant_ids[tenant] = len(self.tenants)
            self.tenants.append(tenant)
            self.tenant_series.append([])
        tenant_id = self._tenant_ids[tenant]
        self.tenant_series[tenant_id].append(found)
        self.rank_of.append(tenant_id + 1 if key[0] == self.ranking else 0)
        if tenant in (NO_TENANT, OTHER_TENANT):
            self.other_of.append(0)
            return found
        other = (key[0], (*key[1][:index], OTHER_TENANT, *key[1][index + 1 :]))
        if other not in self._other_ids:
            self._other_ids[other] = len(self.others)
            self.others.append(other)
        self.other_of.append(self._other_ids[other] + 1)
        return found

    def read(self, store: SeriesStore) -> Snapshot:
        directory = store.directory
        if directory is None:
            _, known = self._files.setdefault("", (ParsedKeys(), []))
            keys = store.local_keys()  # before the values: there are at least as many values as keys
            known.extend(self._id(key) for key in keys[len(known) :])
            return self._sum([(known, store.local_array())])
        sources = []
        for keys_path in sorted(Path(directory).glob(f"{FILE_PREFIX}*.keys")):
            parsed, known = self._files.setdefault(str(keys_path), (ParsedKeys(), []))
            before = len(parsed.keys)
            parsed.refresh(str(keys_path))
            known.extend(self._id(key) for key in parsed.keys[before:])
            values = array("d")
            with open(keys_path.with_suffix(".values"), "rb") as handle:
                data = handle.read(len(known) * 8)
            values.frombytes(data[: len(data) // 8 * 8])
            sources.append((known, values))
        return self._sum(sources)

    def _sum(self, sources: list[tuple[list[int], array[float]]]) -> Snapshot:
        totals = [0.0] * len(self.series)
        activity = [0.0] * (len(self.tenants) + 1)
        others = [0.0] * (len(self.others) + 1)
        rank_of, other_of = self.rank_of, self.other_of
        for ids, values in sources:
            for series_id, value in zip(ids, values, strict=False):
                totals[series_id] += value
                activity[rank_of[series_id]] += value
                others[other_of[series_id]] += value
        return Snapshot(self, totals, activity, others)


@dataclass
class Snapshot:
    """Every process's sums: per series id, per tenant (``ranking`` only) and per ``__other__`` series."""

    reader: SeriesReader
    totals: list[float]
    activity: list[float]
    others: list[float]

    def fold(self, max_tenants: int) -> dict[str, dict[tuple[str, ...], float]]:
        """Per family: label values → value; above ``max_tenants`` tenants, the busiest keep their series and
        the others are summed into ``__other__``: every tenant's sum minus the kept tenants' series."""
        reader, totals = self.reader, self.totals
        ranked = {tenant: self.activity[i + 1] for i, tenant in enumerate(reader.tenants)}
        kept = kept_tenants(ranked, reader.tenants, max_tenants)
        out: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in FAMILIES}
        others = self.others[:]
        for tenant_id, tenant in enumerate(reader.tenants):
            if kept is not None and tenant not in kept and tenant != NO_TENANT:
                continue
            for series_id in reader.tenant_series[tenant_id]:
                value = totals[series_id]
                if value:
                    name, labels = reader.series[series_id]
                    out[name][labels] = value
                    others[reader.other_of[series_id]] -= value
        if kept is None:
            return out  # nothing folded (and `others` is all zeros now)
        for other_id, value in enumerate(others[1:]):
            if value:
                name, labels = reader.others[other_id]
                out[name][labels] = value
        return out


def kept_tenants(activity: dict[str, float], tenants: Iterable[str], max_tenants: int) -> set[str] | None:
    """The tenants that keep their own series, or None when all do (no more than ``max_tenants``).

    Busiest first, compared by order of magnitude — ``int(count).bit_length()``, i.e. the power of two
    below the count — then by slug. Exact counts would reshuffle tenants of about equal traffic at every
    scrape, and every change of membership is a counter reset of ``__other__``; by powers of two a tenant
    changes band at most once per doubling of its count. The ranking is computed from the sums over all
    processes, so every worker answers with the same kept set.
    """
    candidates = {t for t in tenants if t not in (NO_TENANT, OTHER_TENANT)}
    if len(candidates) <= max_tenants:
        return None
    ranked = [(-int(activity.get(tenant, 0.0)).bit_length(), tenant) for tenant in candidates]
    return {tenant for _band, tenant in heapq.nsmallest(max_tenants, ranked)}
