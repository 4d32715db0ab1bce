"""The scorecard in the ``/metrics`` text (docs/observability.md, "Success criteria").

Families (gauges):

* ``foundation_sc_value{tenant, code}`` — the criterion's value as ``GET …/sc/summary`` reports it (default
  window); absent while the tenant has no sample in the period (``no_data``);
* ``foundation_sc_target{tenant, code}`` — the target it is compared with (the tenant's own or the default);
* ``foundation_sc_status{tenant, code, status}`` — 1 for the tenant's current status (met, missed, no_data);
* ``foundation_sc_tenants{code, status}`` — how many tenants are in each status, over **all** tenants;
* ``foundation_sc_scorecard_computed_timestamp_seconds`` — when the snapshot was computed.

Bounded by tenants, never by samples: at most ``FOUNDATION_METRICS_MAX_TENANTS`` tenants keep their own
series, chosen by the rule of the other tenant-labelled families (``tenant_series.kept_tenants``: the most
samples in the window by power of two, then slug). A value has no meaningful sum, so the folded tenants get
no ``foundation_sc_value`` or ``foundation_sc_target``: they appear as ``tenant="__other__"`` in
``foundation_sc_status`` only, whose value there is the **number** of folded tenants in that status. The
alerts use ``foundation_sc_tenants``, which counts every tenant whether folded or not.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from foundation.observability.metrics import escape_label
from foundation.observability.tenant_series import OTHER_TENANT, kept_tenants
from foundation.success_metrics.scorecard import CRITERIA
from foundation.success_metrics.scorecard_board import STATUSES, Board, ScorecardBoard

log = structlog.get_logger(component="foundation.metrics")

HELP = {
    "foundation_sc_value": "Success criterion value per tenant (GET /sc/summary, default window).",
    "foundation_sc_target": "Success criterion target per tenant (its own or the deployment default).",
    "foundation_sc_status": "1 for the tenant's current status; tenant=__other__: how many are folded.",
    "foundation_sc_tenants": "Tenants per success criterion and status (every tenant, none folded).",
}


def _number(value: float) -> str:
    return repr(float(value))


def render_board(board: Board, max_tenants: int) -> bytes:
    kept = kept_tenants(dict(board.activity), board.tenants, max_tenants)
    shown = sorted(board.tenants if kept is None else kept)
    lines: dict[str, list[str]] = {name: [] for name in HELP}
    everyone: Counter[tuple[str, str]] = Counter()
    folded: Counter[tuple[str, str]] = Counter()
    for slug, states in board.tenants.items():
        for state in states:
            everyone[(state.code, state.status)] += 1
            if kept is not None and slug not in kept:
                folded[(state.code, state.status)] += 1
    for slug in shown:
        tenant = escape_label(slug)
        for state in board.tenants[slug]:
            labels = f'tenant="{tenant}",code="{state.code}"'
            if state.value is not None:
                lines["foundation_sc_value"].append(f"foundation_sc_value{{{labels}}} {_number(state.value)}")
            lines["foundation_sc_target"].append(f"foundation_sc_target{{{labels}}} {_number(state.target)}")
            lines["foundation_sc_status"].append(
                f'foundation_sc_status{{{labels},status="{state.status}"}} 1.0'
            )
    for (code, status), count in sorted(folded.items()):
        lines["foundation_sc_status"].append(
            f'foundation_sc_status{{tenant="{OTHER_TENANT}",code="{code}",status="{status}"}} {float(count)}'
        )
    for criterion in CRITERIA:
        for status in STATUSES:
            count = everyone[(criterion.code, status)]
            lines["foundation_sc_tenants"].append(
                f'foundation_sc_tenants{{code="{criterion.code}",status="{status}"}} {float(count)}'
            )
    out: list[str] = []
    for name, help_text in HELP.items():
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *lines[name]]
    stamp = "foundation_sc_scorecard_computed_timestamp_seconds"
    out += [f"# HELP {stamp} When the scorecard snapshot was computed.", f"# TYPE {stamp} gauge"]
    out.append(f"{stamp} {_number(board.computed_at)}")
    return ("\n".join(out) + "\n").encode()


class ScorecardUnavailable(RuntimeError):
    """No snapshot can be served: none computed yet, or the last ones failed (the part is left out)."""


@dataclass(frozen=True)
class Snapshot:
    body: bytes  # the rendered families
    started: float  # monotonic time its computation started: the data is at least this recent


class ScorecardPart:
    """The ``scorecard`` part of a ``/metrics`` answer (observability/scrape.py counts it when it fails).

    ``refresh_seconds`` > 0 (the default, 60 s): :meth:`run`, a background task of the process started with
    the app, computes the board every ``refresh_seconds`` (a computation bounded by ``refresh_timeout``) and
    renders it; a scrape only returns the latest rendered bytes — no database work, no formatting. The first
    scrapes after start-up wait for the first computation, at most ``scrape_timeout``. A snapshot older than
    :attr:`max_age` (the last computations failed or hang) is not served: the part fails, is counted and
    logged. ``refresh_seconds`` = 0: computed and rendered on every scrape, within ``scrape_timeout`` (exact,
    as ``GET …/sc/summary`` at that instant; the test profile's default, too costly with many tenants).

    The computation reads every sample of the window, so its cost grows with the samples (measured: 7–10 s of
    CPU at 10,000 tenants and 1,000,000 registrations on SQLite, bench/scorecard_compute.py). ``max_share``
    bounds the share of the process's time it takes: after a computation of *d* seconds the next starts no
    sooner than *d* / ``max_share`` after this one started (10 %: 100 s apart for a 10 s computation), and
    snapshots are served that much longer.
    """

    def __init__(
        self,
        board: ScorecardBoard,
        *,
        max_tenants: int,
        scrape_timeout: float,
        refresh_seconds: float = 0.0,
        refresh_timeout: float = 30.0,
        max_share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.board = board
        self.max_tenants = max_tenants
        self.scrape_timeout = scrape_timeout
        self.refresh_seconds = refresh_seconds
        self.refresh_timeout = refresh_timeout
        self.max_share = max_share
        self.clock = clock
        self.last_seconds = 0.0  # how long the last computation took (failed ones too)
        self.snapshot: Snapshot | None = None
        self.refreshes = 0  # computations that ended with a snapshot
        self._first = asyncio.Event()
        self._running = False

    @property
    def interval(self) -> float:
        """From the start of one computation to the start of the next: ``refresh_seconds``, or longer when
        the last computation would otherwise take more than ``max_share`` of the time."""
        return max(self.refresh_seconds, self.last_seconds / self.max_share)

    @property
    def max_age(self) -> float:
        """The oldest snapshot a scrape serves: a newer one starts at most max(interval, timeout) after this
        one started and ends at most ``refresh_timeout`` later."""
        return max(self.interval, self.refresh_timeout) + self.refresh_timeout

    async def __call__(self) -> bytes:
        if not self.refresh_seconds:
            board = await asyncio.wait_for(self.board.compute(), timeout=self.scrape_timeout)
            return render_board(board, self.max_tenants)
        if self.snapshot is None and self._running:
            try:
                await asyncio.wait_for(self._first.wait(), timeout=self.scrape_timeout)
            except TimeoutError:
                raise ScorecardUnavailable("no scorecard snapshot yet: the first one is computing") from None
        snapshot = self.snapshot
        if snapshot is None:
            raise ScorecardUnavailable("no scorecard snapshot: the refresh task is not running")
        age = self.clock() - snapshot.started
        if age > self.max_age:
            raise ScorecardUnavailable(
                f"the newest scorecard snapshot is {age:.0f} s old (served up to {self.max_age:.0f} s):"
                " the last computations failed (see scorecard_refresh_failed)"
            )
        return snapshot.body

    async def refresh(self) -> None:
        """One computation: the board (bounded by ``refresh_timeout``), rendered off the event loop."""
        started = self.clock()
        # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result when a cancellation arrives
        # as the computation completes, and the cancelled refresh loop would then run on for ever.
        async with asyncio.timeout(self.refresh_timeout):
            board = await self.board.compute()
        body = await asyncio.to_thread(render_board, board, self.max_tenants)
        self.snapshot = Snapshot(body, started)
        self.refreshes += 1
        self._first.set()

    async def run(self) -> None:
        """Refresh every :attr:`interval` (from the start of one computation to the next) until cancelled; a
        failed computation is logged and the next one tried."""
        self._running = True
        try:
            while True:
                started = self.clock()
                try:
                    await self.refresh()
                except Exception as exc:
                    log.warning(
                        "scorecard_refresh_failed",
                        error_type=type(exc).__name__,
                        error=str(exc)[:300],
                        seconds=round(self.clock() - started, 3),
                    )
                self.last_seconds = self.clock() - started
                await asyncio.sleep(max(0.0, started + self.interval - self.clock()))
        finally:
            self._running = False
