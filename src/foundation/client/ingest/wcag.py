"""Which axe-core rules are WCAG 2.x level A/AA rules: the SC-004 criterion counts only those.

axe tags a rule with the WCAG version and level it checks: ``wcag2a``, ``wcag2aa`` (WCAG 2.0), ``wcag21a``,
``wcag21aa`` (2.1), ``wcag22aa`` (2.2). WCAG 2.2 AA conformance needs all of them; AAA tags
(``wcag2aaa``), ``best-practice`` and the ``experimental`` rules do not count.

An axe results file carries each rule's tags. A Lighthouse result only does for failing audits
(``details.debugData.tags``), so passing audits are looked up in ``axe_rules.json``: every rule of axe-core
with its tags, generated from the axe-core that Lighthouse ships (scripts/lighthouse/axe-rules.cjs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

WCAG_AA_TAGS = frozenset({"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"})


def is_wcag_aa(tags: Iterable[object]) -> bool:
    return any(isinstance(tag, str) and tag in WCAG_AA_TAGS for tag in tags)


@lru_cache(maxsize=1)
def rule_table() -> tuple[str, dict[str, tuple[str, ...]]]:
    """(axe-core version, {rule id: tags})."""
    document = json.loads(resources.files(__package__).joinpath("axe_rules.json").read_text(encoding="utf-8"))
    return document["axeCoreVersion"], {rule: tuple(tags) for rule, tags in document["rules"].items()}


def rule_tags(rule_id: str) -> tuple[str, ...] | None:
    return rule_table()[1].get(rule_id)
