"""``pii-audit``: JSON log files and the embedded collector's exported telemetry, scanned with the project's
PII guard (``foundation.observability.pii``) → one SC-005 sample: the incidents found (0: audited, clean).

Inputs, one record per line (JSON lines) or one JSON document (an object or an array of objects):

* the API's JSON logs (structlog: ``timestamp``, ``event``, fields);
* the embedded collector's files (``spans.jsonl``, ``logs.jsonl``, ``metrics.jsonl`` and their rotated
  ``.1``… copies; docs/collector.md): one flat span / log record / data point per line;
* CSP violation reports, as a ``report-uri`` endpoint stores them (``{"csp-report": {...}}``) or the
  Reporting API (``{"type": "csp-violation", "body": {...}}``): each one is an incident by itself.

A line that is not a JSON object (or an array of them) is scanned as text; a file that cannot be read or
is not UTF-8 is an input error, and so is a batch of files holding no record at all (an audit of nothing
is not a clean audit). A **finding** is a value the PII guard would have masked: a
string in which ``redact_text`` finds a CPF, CNPJ, e-mail, phone, JWT, bearer/basic credential or
``password=``-style secret; an integer that is a CPF or phone; any value of a key that names a secret
(``authorization``, ``password``, ``token``…) unless already ``[REDACTED]``; a key that itself holds such
data (a CPF used as a map key), shown masked in every field path. Keys the guard trusts
(``trace_id``, ``route``, ``timestamp``…) are not scanned. An **incident** is a record with at least one
finding, or a CSP violation report; SC-005 is their number. Findings name the file, line, field and kind,
never the value.

Records attributed to another tenant (``tenant``, ``tenant_slug``, ``tenant_id`` or ``foundation.tenant``,
at the top level, in ``attributes`` or in ``resource``; compared with ``--tenant`` as given, case-insensitive)
are skipped; unattributed records count for the tenant audited (shared telemetry may hold anyone's data), and
so do records that name their tenant only in the other form (a UUID where ``--tenant`` is a slug, or the
reverse: the two cannot be compared offline), with a warning.

``collectedAt`` is the newest record time (``timestamp``/``time``, or ``endTimeUnixNano``, ``timeUnixNano``…);
files without any time need ``--collected-at``. Audit closed files (rotated logs, a finished run's collector
directory): re-auditing the same files is a no-op, but a file that grew since would count its old incidents
again under a new time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from foundation.client.ingest.model import (
    InputError,
    Options,
    Report,
    Sample,
    decode_text,
    from_unix_nanos,
    parse_time,
    read_bytes,
)
from foundation.observability.pii import (
    REDACTED,
    SAFE_ATTRIBUTE_KEYS,
    SAFE_LOG_FIELDS,
    is_sensitive_key,
    redact_text,
    redact_value,
)

KIND = "pii-audit"
SOURCE = "manual"
SAFE_KEYS = SAFE_ATTRIBUTE_KEYS | SAFE_LOG_FIELDS
TENANT_KEYS = ("tenant", "tenant_slug", "tenant_id", "foundation.tenant")
UNATTRIBUTED = {"", "none", "null", "-"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME_KEYS = ("timestamp", "time", "@timestamp")
NANO_KEYS = ("endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano", "startTimeUnixNano")
MAX_FINDINGS_LISTED = 1000


_SECRET_BEFORE = re.compile(
    r"(?i)(api[_-]?key|token|passw(?:or)?d|pwd|secret|credentials?)[\"']?\s*[=:]\s*[\"']?$"
)
_CREDENTIAL_BEFORE = re.compile(r"(?i)\b(bearer|basic)\s+$")


def _kind(segment: str, before: str) -> str:
    """What a masked segment was, from its shape and the text before it (the segment is never reported)."""
    if segment.startswith("eyJ"):
        return "jwt"
    if _CREDENTIAL_BEFORE.search(before):
        return "credential"
    if _SECRET_BEFORE.search(before):
        return "secret"
    if "@" in segment:
        return "email"
    if re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", segment.strip()):
        return "cpf"
    digits = re.sub(r"\D", "", segment)
    if len(digits) == 14:
        return "cnpj"
    if len(digits) == 11 and not segment.strip().startswith(("+", "(")):
        return "cpf-or-phone"
    return "phone"


def _text_kinds(value: str) -> list[str]:
    redacted = redact_text(value)
    if redacted == value:
        return []
    # URL-encoded text is masked in its decoded form (pii.redact_text): compare with that form then.
    decoded = unquote_plus(value)
    base = decoded if decoded != value and redact_text(decoded) == redacted else value
    # The guard keeps everything but the masked segments: the text between the kept pieces is what it masked.
    pieces = redacted.split(REDACTED)
    pattern = "(.+?)".join(re.escape(piece) for piece in pieces)
    match = re.fullmatch(pattern, base, re.DOTALL)
    if match is None:
        return ["pii"]
    return [
        _kind(match.group(i), base[max(0, match.start(i) - 40) : match.start(i)])
        for i in range(1, len(pieces))
    ]


def _findings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field path, kind) of every value the guard would mask."""
    if isinstance(value, dict):
        for key, item in value.items():
            # A key may hold the personal data itself (a CPF or an e-mail used as a map key): a finding, and
            # the key is named masked, here and in the paths of the findings below it.
            key_kinds = _text_kinds(str(key))
            shown = redact_text(str(key)) if key_kinds else str(key)
            child = f"{path}.{shown}" if path else shown
            for kind in key_kinds:
                yield child, kind
            if is_sensitive_key(str(key)):
                if item not in (None, "", REDACTED) and not (isinstance(item, str) and REDACTED in item):
                    yield child, "secret-field"
            elif str(key) not in SAFE_KEYS:
                yield from _findings(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _findings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        for kind in _text_kinds(value):
            yield path or "(text)", kind
    elif isinstance(value, int) and not isinstance(value, bool) and redact_value(value) != value:
        yield path, "cpf-or-phone"


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    text = decode_text(path, read_bytes(path))
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            document = None  # JSON lines, or JSON mixed with text: line by line below
        if isinstance(document, list):
            for item in document:
                yield 1, item
            return
        if isinstance(document, dict):
            yield 1, document
            return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = line
        if isinstance(record, list):
            for item in record:
                yield number, item
        else:
            yield number, record if isinstance(record, dict) else line


def _tenants_of(record: dict[str, Any]) -> set[str]:
    """Every name the record gives its tenant (slug and/or UUID, lower case); empty when unattributed."""
    names = set()
    for scope in (record, record.get("attributes"), record.get("resource")):
        if isinstance(scope, dict):
            for key in TENANT_KEYS:
                value = scope.get(key)
                if isinstance(value, str) and value.strip().lower() not in UNATTRIBUTED:
                    names.add(value.strip().lower())
    return names


def _is_uuid(name: str) -> bool:
    return UUID.fullmatch(name) is not None


def _attribution(record: dict[str, Any], tenant: str) -> str:
    """``ours``, ``other`` or ``unknown`` (unattributed, or named only in the other form: a UUID cannot be
    compared with a slug offline). Only ``other`` is skipped: a record of the audited tenant must never be
    left out because its log names the tenant differently from ``--tenant``."""
    names = _tenants_of(record)
    if tenant in names:
        return "ours"
    comparable = [name for name in names if _is_uuid(name) == _is_uuid(tenant)]
    return "other" if comparable else "unknown"


def _time_of(record: dict[str, Any], path: Path, line: int) -> datetime | None:
    for key in TIME_KEYS:
        if isinstance(record.get(key), str):
            try:
                return parse_time(record[key], path, f"line {line}: {key}")
            except InputError:  # parse_time's message quotes the value: an audit never prints what it read
                raise InputError(
                    path, f"line {line}: {key} is not an RFC 3339 date-time with an offset"
                ) from None
    for key in NANO_KEYS:
        moment = from_unix_nanos(record.get(key))
        if moment is not None:
            return moment
    return None


def _is_csp_report(record: dict[str, Any]) -> bool:
    return isinstance(record.get("csp-report"), dict) or record.get("type") == "csp-violation"


def parse(paths: Sequence[Path], options: Options) -> Report:
    tenant = options.tenant.strip().lower()
    findings: list[dict[str, Any]] = []
    incidents = records = skipped = other_form = 0
    times: list[datetime] = []
    for path in paths:
        for line, record in _records(path):
            if isinstance(record, dict):
                attribution = _attribution(record, tenant)
                if attribution == "other":
                    skipped += 1
                    continue
                if attribution == "unknown" and _tenants_of(record):
                    other_form += 1
                moment = _time_of(record, path, line)
                if moment is not None:
                    times.append(moment)
            records += 1
            found = [
                {"file": str(path), "line": line, "field": field, "kind": kind}
                for field, kind in _findings(record, "")
            ]
            if isinstance(record, dict) and _is_csp_report(record):
                found.append({"file": str(path), "line": line, "field": "(report)", "kind": "csp-violation"})
            if found:
                incidents += 1
                findings.extend(found)
    if not records and not skipped:
        # "0 incidents" means "audited, clean"; an audit of nothing (an empty log, a failed export) is not.
        where = ", ".join(str(p) for p in paths)
        raise InputError(where, "holds no record to audit (empty): nothing audited, no sample posted")
    if times and options.collected_at is not None:
        raise InputError("--collected-at", "not used: the audited records carry their own times")
    collected_at = max(times) if times else options.collected_at
    if collected_at is None:
        where = ", ".join(str(p) for p in paths)
        raise InputError(
            where, "no record carries a time: pass --collected-at (the end of the audited period)"
        )
    report = Report(KIND, [Sample("SC-005", float(incidents), collected_at, SOURCE, options.feature)])
    if other_form:
        form, given = ("slug", "UUID") if _is_uuid(tenant) else ("UUID", "slug")
        report.warnings.append(
            f"{other_form} record(s) name their tenant only by {form}, which cannot be compared with the "
            f"{given} given as --tenant: counted as {options.tenant}'s; pass --tenant as the {form} to leave "
            "other tenants' records out"
        )
    report.details.update(
        {
            "records": records,
            "skippedOtherTenants": skipped,
            "incidents": incidents,
            "period": {"from": min(times) if times else None, "to": collected_at},
            "findings": findings[:MAX_FINDINGS_LISTED],
            "findingsTotal": len(findings),
        }
    )
    return report
