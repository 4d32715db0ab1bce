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

import json
import mmap
import os
import threading
from array import array
from collections.abc import Iterable, Iterator
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

    def local_values(self) -> Iterator[tuple[SeriesKey, float]]:
        """This process's series (single-process mode; in multiprocess mode read the files instead)."""
        values = self._memory[:]
        return zip(self._keys[: len(values)], values, strict=False)


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
    """Sums the series of every process; keeps each file's parsed keys between scrapes."""

    def __init__(self) -> None:
        self._parsed: dict[str, ParsedKeys] = {}

    def read(self, store: SeriesStore) -> dict[SeriesKey, float]:
        directory = store.directory
        totals: dict[SeriesKey, float] = {}
        if directory is None:
            for key, value in store.local_values():
                if value:
                    totals[key] = value
            return totals
        for keys_path in sorted(Path(directory).glob(f"{FILE_PREFIX}*.keys")):
            parsed = self._parsed.setdefault(str(keys_path), ParsedKeys())
            parsed.refresh(str(keys_path))
            values = array("d")
            with open(keys_path.with_suffix(".values"), "rb") as handle:
                data = handle.read(len(parsed.keys) * 8)
            values.frombytes(data[: len(data) // 8 * 8])
            for key, value in zip(parsed.keys, values, strict=False):
                if value:
                    totals[key] = totals.get(key, 0.0) + value
        return totals


def activity(totals: dict[SeriesKey, float], family: TenantCounter) -> dict[str, float]:
    """Per tenant: the sum of ``family``'s series (the ranking of :func:`kept_tenants`)."""
    index = family.tenant_index
    out: dict[str, float] = {}
    for (name, labels), value in totals.items():
        if name == family.name:
            out[labels[index]] = out.get(labels[index], 0.0) + value
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
    ranked = sorted(candidates, key=lambda t: (-int(activity.get(t, 0.0)).bit_length(), t))
    return set(ranked[:max_tenants])


def fold(
    totals: dict[SeriesKey, float], families: Iterable[TenantCounter], kept: set[str] | None
) -> dict[str, dict[tuple[str, ...], float]]:
    """Per family: label values → value, with tenants outside ``kept`` summed into ``__other__``."""
    by_name = {family.name: family.tenant_index for family in families}
    out: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in by_name}
    for (name, labels), value in totals.items():
        index = by_name.get(name)
        if index is None:
            continue
        tenant = labels[index]
        if kept is not None and tenant not in kept and tenant != NO_TENANT:
            labels = (*labels[:index], OTHER_TENANT, *labels[index + 1 :])
        series = out[name]
        series[labels] = series.get(labels, 0.0) + value
    return out
