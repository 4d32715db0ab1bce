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

from collections import Counter

from foundation.observability.metrics import escape_label
from foundation.observability.tenant_series import OTHER_TENANT, kept_tenants
from foundation.success_metrics.scorecard import CRITERIA
from foundation.success_metrics.scorecard_board import STATUSES, Board, ScorecardBoard

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


class ScorecardPart:
    """The ``scorecard`` part of a ``/metrics`` answer (observability/scrape.py counts it when it fails)."""

    def __init__(self, board: ScorecardBoard, *, max_tenants: int, timeout_seconds: float) -> None:
        self.board = board
        self.max_tenants = max_tenants
        self.timeout_seconds = timeout_seconds

    async def __call__(self) -> bytes:
        return render_board(await self.board.read(self.timeout_seconds), self.max_tenants)
