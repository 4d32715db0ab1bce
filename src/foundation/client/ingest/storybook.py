"""``storybook``: a Storybook ``index.json`` (format v4: Storybook 7.x–8.0, v5: 8.1+, as written by
``storybook build``) → one SC-002 sample, and the tenant's stories upserted into the stories API.

Definitions (docs/success-criteria.md):

* a **component** is a Storybook component id, the part of a story id before ``--`` (``components-button``
  for ``components-button--primary``);
* **critical** components: every component with a story or docs entry tagged ``critical``, plus the ones
  named with ``--critical`` (component ids, or titles such as ``Components/Button``, converted the way
  Storybook makes ids). A name with no story at all is a critical component without coverage;
* a story is **attributed to a tenant** by a tag ``tenant:<slug>``; a story may carry several (a story
  rendered in each tenant's theme, e.g. through Chromatic modes); project-wide tags in ``.storybook/preview``
  attribute every story. A story without such a tag is not attributed to any tenant;
* the **active tenants** are ``--active-tenants`` (default: the ``--tenant`` being ingested). The API has no
  tenant listing, so the list is given by whoever runs the ingestion;
* SC-002 = critical components having a story (type ``story``, not docs) for every active tenant / critical
  components, in percent.

Stories attributed to ``--tenant`` are upserted with ``tenantId`` = that tenant: ``componentId``, ``storyId``
(the Storybook id), ``tags`` (as in the index), ``coveragePercent`` (the share of active tenants the
component has a story for), ``axeStatus: warn`` (an index says nothing about accessibility: "not checked"),
``chromaticBuild`` (``--build``, default ``storybook-<first 12 hex of the index's SHA-256>``) and
``storybookUrl`` (``<--storybook-url>/?path=/story/<id>``). Unattributed stories are not upserted: a
tenant-bound token may not write global stories.

An index carries no time, so ``--collected-at`` is required (in CI the commit time,
``git log -1 --format=%cI``), which also makes re-ingesting the same build a no-op.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foundation.client.ingest.model import (
    InputError,
    Options,
    Report,
    Sample,
    decode_text,
    expect,
    percent,
    read_bytes,
)

KIND = "storybook"
SOURCE = "chromatic"
CRITICAL_TAG = "critical"
TENANT_TAG = "tenant:"
SUPPORTED_VERSIONS = (4, 5)
MAX_TAGS, MAX_TEXT = 50, 200
# Storybook's own id sanitising (storybook/internal/csf `sanitize`).
_UNSAFE = re.compile(r"[ ’–—―′¿'`~!@#$%^&*()_|+\-=?;:'\",.<>{}\[\]\\/]", re.IGNORECASE)


def _looks_like_uuid(name: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", name) is not None


def sanitize(text: str) -> str:
    return re.sub(r"-+", "-", _UNSAFE.sub("-", text.lower())).strip("-")


def component_of(story_id: str) -> str:
    return story_id.split("--", 1)[0]


def _entries(document: Any, path: Path) -> list[dict[str, Any]]:
    expect(isinstance(document, dict), path, "is not a Storybook index (a JSON object is expected)")
    version = document.get("v")
    if version == 3 or ("stories" in document and "entries" not in document):
        raise InputError(
            path, "is a Storybook 6 stories.json (v3); build with Storybook 7 or later (index.json)"
        )
    expect(version in SUPPORTED_VERSIONS, path, f"index version {version!r} is not supported (v4 or v5)")
    entries = document.get("entries")
    expect(isinstance(entries, dict), path, "has no 'entries' object")
    checked: list[dict[str, Any]] = []
    for key, entry in entries.items():  # type: ignore[union-attr]
        expect(isinstance(entry, dict), path, f"entry {key!r} is not an object")
        for name in ("id", "title", "name"):
            expect(
                isinstance(entry.get(name), str) and bool(entry[name]), path, f"entry {key!r} has no {name}"
            )
        expect(entry.get("type") in ("story", "docs"), path, f"entry {key!r}: type must be 'story' or 'docs'")
        tags = entry.get("tags", [])
        expect(
            isinstance(tags, list) and all(isinstance(tag, str) for tag in tags),
            path,
            f"entry {key!r}: tags must be a list of strings",
        )
        checked.append({**entry, "tags": list(tags)})
    return checked


def _tenants_of(entry: dict[str, Any]) -> set[str]:
    return {tag[len(TENANT_TAG) :].strip().lower() for tag in entry["tags"] if tag.startswith(TENANT_TAG)}


def _story_document(entry: dict[str, Any], tenant: str, coverage: float, build: str, base_url: str) -> dict:
    return {
        "tenantId": tenant,
        "componentId": component_of(entry["id"])[:MAX_TEXT],
        "storyId": entry["id"][:MAX_TEXT],
        "tags": entry["tags"],
        "coveragePercent": coverage,
        "axeStatus": "warn",
        "chromaticBuild": build,
        "storybookUrl": f"{base_url.rstrip('/')}/?path=/story/{entry['id']}",
    }


def _check_story(entry: dict[str, Any], path: Path) -> None:
    expect(len(entry["id"]) <= MAX_TEXT, path, f"story id {entry['id'][:40]!r}… is longer than {MAX_TEXT}")
    expect(len(entry["tags"]) <= MAX_TAGS, path, f"story {entry['id']!r} has more than {MAX_TAGS} tags")
    long_tag = next((tag for tag in entry["tags"] if not 1 <= len(tag) <= 100), None)
    expect(
        long_tag is None,
        path,
        f"story {entry['id']!r} has a tag of {len(long_tag or '')} characters (1..100)",
    )


def _read_index(paths: Sequence[Path]) -> tuple[Path, bytes, dict[str, Any], list[dict[str, Any]]]:
    if len(paths) != 1:
        raise InputError(", ".join(str(p) for p in paths), "storybook takes exactly one index.json")
    path = paths[0]
    raw = read_bytes(path)
    try:
        document = json.loads(decode_text(path, raw))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return path, raw, document, _entries(document, path)


def _critical(entries: list[dict[str, Any]], options: Options, path: Path) -> set[str]:
    components = {component_of(entry["id"]) for entry in entries}
    critical = {component_of(e["id"]) for e in entries if CRITICAL_TAG in e["tags"]}
    critical |= {name if name in components else sanitize(name) for name in options.critical}
    if not critical:
        raise InputError(path, "no critical component: tag stories 'critical' or name them with --critical")
    return critical


def parse(paths: Sequence[Path], options: Options) -> Report:
    path, raw, document, entries = _read_index(paths)
    if options.collected_at is None:
        raise InputError(
            path, "a Storybook index carries no time: pass --collected-at (e.g. the commit time)"
        )
    tenant = options.tenant.lower()
    active = [t.lower() for t in options.active_tenants] or [tenant]
    stories = [entry for entry in entries if entry["type"] == "story"]
    critical = _critical(entries, options, path)
    covered_tenants: dict[str, set[str]] = {}
    for entry in stories:
        covered_tenants.setdefault(component_of(entry["id"]), set()).update(_tenants_of(entry))

    def coverage(component: str) -> float:
        return percent(len(covered_tenants.get(component, set()) & set(active)), len(active))

    covered = sorted(c for c in critical if coverage(c) == 100.0)
    build = options.build or f"storybook-{hashlib.sha256(raw).hexdigest()[:12]}"
    expect(1 <= len(build) <= MAX_TEXT, path, f"--build must be 1..{MAX_TEXT} characters")
    own = [entry for entry in stories if tenant in _tenants_of(entry)]
    for entry in own:
        _check_story(entry, path)
    value = percent(len(covered), len(critical))
    report = Report(
        KIND,
        [Sample("SC-002", value, options.collected_at, SOURCE, options.feature)],
        stories=[
            _story_document(e, options.tenant, coverage(component_of(e["id"])), build, options.storybook_url)
            for e in own
        ],
    )
    uncovered = {
        c: sorted(set(active) - covered_tenants.get(c, set())) for c in sorted(critical) if c not in covered
    }
    report.details.update(
        indexVersion=document["v"],
        activeTenants=active,
        critical=sorted(critical),
        covered=covered,
        uncovered=uncovered,
        stories=len(stories),
        storiesForTenant=len(own),
        build=build,
    )
    attributed: set[str] = set().union(*(_tenants_of(entry) for entry in stories))
    for name in active:
        if name not in attributed:
            hint = " (a UUID: stories name tenants by slug, pass the slug)" if _looks_like_uuid(name) else ""
            report.warnings.append(
                f"no story is tagged tenant:{name}{hint}: every critical component counts as uncovered for it"
            )
    unattributed = sum(1 for entry in stories if not _tenants_of(entry))
    if unattributed:
        report.warnings.append(
            f"{unattributed} of {len(stories)} stories carry no tenant:<slug> tag: they cover no tenant "
            "and are not upserted"
        )
    return report
