"""The parsers' rules on small variations of the fixtures: what counts, what is refused, what is never
echoed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from foundation.client.ingest import axe, lighthouse, pact, pii_audit, storybook
from foundation.client.ingest.model import InputError, Options, Sample, distinct_samples, parse_time
from tests.client.conftest import FIXTURES

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def rule(rule_id: str, *tags: str) -> dict[str, Any]:
    return {"id": rule_id, "tags": list(tags), "nodes": []}


def axe_result(**groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "testEngine": {"name": "axe-core", "version": "4.14.1"},
        "timestamp": "2026-11-30T12:00:00.000Z",
        "url": "http://127.0.0.1/app",
        "violations": groups.get("violations", []),
        "incomplete": groups.get("incomplete", []),
        "passes": groups.get("passes", []),
        "inapplicable": [],
    }


# --- axe ---------------------------------------------------------------------------------------------------


def test_axe_worst_group_decides_and_incomplete_is_left_out(tmp_path: Path) -> None:
    result = axe_result(
        passes=[
            rule("image-alt", "wcag2a"),
            rule("color-contrast", "wcag2aa"),  # also a violation: failed
            rule("label", "wcag2a"),  # also incomplete: needs review
            rule("target-size", "wcag22aa"),
            rule("autocomplete-valid", "wcag21aa"),
            rule("region", "best-practice"),  # not WCAG: ignored
            rule("link-in-text-block", "wcag2aaa"),  # AAA: ignored
        ],
        violations=[rule("color-contrast", "wcag2aa"), rule("heading-order", "best-practice")],
        incomplete=[rule("label", "wcag2a"), rule("aria-valid-attr-value", "wcag2a")],
    )
    report = axe.parse([write(tmp_path, "a.json", result)], Options("tenant-alfa"))
    page = report.details["pages"][0]
    assert page["passed"] == ["autocomplete-valid", "image-alt", "target-size"]
    assert page["failed"] == ["color-contrast"]
    assert page["needsReview"] == ["aria-valid-attr-value", "label"]
    assert report.samples == [Sample("SC-004", 75.0, WHEN, "ci")]


def test_axe_page_with_nothing_decided_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.json", [axe_result(incomplete=[rule("label", "wcag2a")])])
    with pytest.raises(InputError, match=r"result 0\): no WCAG 2.x A/AA rule was decided"):
        axe.parse([path], Options("tenant-alfa"))


# --- lighthouse --------------------------------------------------------------------------------------------


def lhr() -> dict[str, Any]:
    return json.loads((FIXTURES / "lighthouse" / "api-docs.report.json").read_text())  # type: ignore[no-any-return]


def test_lighthouse_error_audits_count_as_failed_and_unknown_audits_are_reported(tmp_path: Path) -> None:
    report = lhr()
    report["audits"]["button-name"].update(
        scoreDisplayMode="error", score=None, errorMessage="axe-core Error"
    )
    report["audits"]["future-rule"] = {"id": "future-rule", "score": 1, "scoreDisplayMode": "binary"}
    report["categories"]["accessibility"]["auditRefs"].append({"id": "future-rule", "weight": 1})
    parsed = lighthouse.parse([write(tmp_path, "r.json", report)], Options("tenant-alfa", feature="docs"))
    page = parsed.details["pages"][0]
    assert page["errored"] == ["button-name"] and "button-name" not in page["passed"]
    assert page["unknownAudits"] == ["future-rule"]
    assert parsed.samples[0].value == round(100 * 10 / 14, 6) and parsed.samples[0].feature_slug == "docs"
    assert "future-rule" in parsed.warnings[0]


def test_lighthouse_without_accessibility_category_is_refused(tmp_path: Path) -> None:
    report = lhr()
    del report["categories"]["accessibility"]
    with pytest.raises(InputError, match="has no accessibility category"):
        lighthouse.parse([write(tmp_path, "r.json", report)], Options("tenant-alfa"))


def test_same_page_twice_is_one_sample_but_conflicting_values_are_refused(tmp_path: Path) -> None:
    path = FIXTURES / "lighthouse" / "api-docs.report.json"
    assert len(lighthouse.parse([path, path], Options("tenant-alfa")).samples) == 1
    other = lhr()
    other["audits"]["color-contrast"]["score"] = 1
    with pytest.raises(InputError, match="have different values"):
        lighthouse.parse([path, write(tmp_path, "r.json", other)], Options("tenant-alfa"))


# --- storybook ---------------------------------------------------------------------------------------------


def index(tmp_path: Path, entries: dict[str, dict[str, Any]]) -> Path:
    return write(tmp_path, "index.json", {"v": 5, "entries": entries})


def story(story_id: str, *tags: str, kind: str = "story") -> dict[str, Any]:
    title, name = story_id.split("--")
    return {
        "id": story_id,
        "title": title,
        "name": name,
        "type": kind,
        "importPath": "./x.tsx",
        "tags": list(tags),
    }


def test_storybook_docs_only_and_unknown_critical_names_are_uncovered(tmp_path: Path) -> None:
    path = index(
        tmp_path,
        {
            "a--one": story("a--one", "critical", "tenant:tenant-alfa"),
            "b--docs": story("b--docs", "critical", "tenant:tenant-alfa", kind="docs"),
        },
    )
    options = Options("tenant-alfa", collected_at=WHEN, critical=("Shared/DatePicker",))
    report = storybook.parse([path], options)
    assert report.details["critical"] == ["a", "b", "shared-datepicker"]
    assert report.details["covered"] == ["a"]
    assert report.samples[0].value == 33.333333
    assert [item["storyId"] for item in report.stories] == ["a--one"]


@pytest.mark.parametrize(
    ("entries", "options", "message"),
    [
        ({"a--one": story("a--one")}, {}, "no critical component"),
        (
            {"a--one": story("a--one", "critical", *[f"t{i}" for i in range(50)], "tenant:tenant-alfa")},
            {},
            "more than 50 tags",
        ),
        ({"a--one": {"id": "a--one", "title": "A", "type": "story"}}, {}, "has no name"),
        ({"a--one": story("a--one", "critical")}, {"collected_at": None}, "pass --collected-at"),
    ],
)
def test_storybook_refusals(
    tmp_path: Path, entries: dict[str, Any], options: dict[str, Any], message: str
) -> None:
    settings = {"collected_at": WHEN, **options}
    with pytest.raises(InputError, match=message):
        storybook.parse([index(tmp_path, entries)], Options("tenant-alfa", **settings))


def test_storybook_warns_of_an_active_tenant_no_story_names(tmp_path: Path) -> None:
    """Stories name tenants by slug: a UUID (or a misspelt slug) covers nothing, and the run says so."""
    path = index(tmp_path, {"a--one": story("a--one", "critical", "tenant:tenant-alfa")})
    alfa = "00000000-0000-0000-0000-000000000001"
    report = storybook.parse([path], Options(alfa, collected_at=WHEN, active_tenants=(alfa, "tenant-alfa")))
    assert report.samples[0].value == 0.0
    assert report.warnings == [
        f"no story is tagged tenant:{alfa} (a UUID: stories name tenants by slug, pass the slug): every "
        "critical component counts as uncovered for it"
    ]
    assert storybook.parse([path], Options("tenant-alfa", collected_at=WHEN)).warnings == []


def test_storybook_takes_one_index(tmp_path: Path) -> None:
    path = FIXTURES / "storybook" / "index-v5.json"
    with pytest.raises(InputError, match=r"exactly one index\.json"):
        storybook.parse([path, path], Options("tenant-alfa", collected_at=WHEN))


# --- pact --------------------------------------------------------------------------------------------------

PACT_V2 = FIXTURES / "pact" / "iabank-web-foundation-api.v2.json"
THEME = (
    "Verifying a pact between iabank-web and foundation-api Given tenant-alfa has a current theme - "
    "a request for the current theme of tenant-alfa"
)
SAMPLES = (
    "Verifying a pact between iabank-web and foundation-api - a request for the SC-001 samples of tenant-alfa"
)


def junit(tmp_path: Path, cases: str, timestamp: str = "2026-11-30T12:00:00+00:00") -> Path:
    return write(
        tmp_path,
        "v.xml",
        f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite id="0" name="foundation-api" '
        f'timestamp="{timestamp}">{cases}</testsuite></testsuites>',
    )


def test_pact_pending_failures_are_not_verified_and_unknown_cases_are_reported(tmp_path: Path) -> None:
    cases = (
        f'<testcase name="{THEME}"/><testcase name="{SAMPLES}"><skipped/></testcase><testcase name="x - y"/>'
    )
    report = pact.parse([PACT_V2, PACT_V2, junit(tmp_path, cases)], Options("tenant-alfa"))
    assert (report.details["catalogued"], report.details["verified"]) == (2, 1)
    assert report.details["unmatched"] == ["x - y"]
    assert report.samples == [Sample("SC-003", 50.0, WHEN, "ci")]


def test_pact_junit_without_offset_needs_collected_at_and_description_only_names_match(
    tmp_path: Path,
) -> None:
    cases = '<testcase name="a request for the current theme of tenant-alfa"/>'
    path = junit(tmp_path, cases, timestamp="2026-11-30T12:00:00")  # local time: ambiguous, left out
    with pytest.raises(InputError, match="carries no time"):
        pact.parse([PACT_V2, path], Options("tenant-alfa"))
    report = pact.parse([PACT_V2, path], Options("tenant-alfa", collected_at=WHEN))
    assert report.details["verified"] == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {
                "consumer": {"name": "a"},
                "provider": {"name": "b"},
                "interactions": [],
                "metadata": {"pactSpecification": {"version": "1.0.0"}},
            },
            "specification 1.0.0 is not supported",
        ),
        (
            {
                "consumer": {"name": "a"},
                "provider": {"name": "b"},
                "interactions": [{}],
                "metadata": {"pactSpecification": {"version": "3.0.0"}},
            },
            "interactions\\[0\\] has no description",
        ),
        (
            {"consumer": {"name": "a"}, "provider": {"name": "b"}, "interactions": []},
            "no metadata.pactSpecification.version",
        ),
        ({"result": "yes", "errors": []}, "no boolean 'result'"),
        ({"result": True, "errors": [], "output": ["nothing here"]}, "names no verified pact"),
    ],
)
def test_pact_refusals(tmp_path: Path, document: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        pact.parse([write(tmp_path, "p.json", document)], Options("tenant-alfa", collected_at=WHEN))


def test_pact_xml_with_a_dtd_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "v.xml", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuites/>')
    with pytest.raises(InputError, match="DTD is not accepted"):
        pact.parse([PACT_V2, path], Options("tenant-alfa"))


def test_message_pacts_are_catalogued(tmp_path: Path) -> None:
    messages = {
        "consumer": {"name": "web"},
        "provider": {"name": "events"},
        "messages": [{"description": "a loan approved event", "providerStates": [{"name": "a loan exists"}]}],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }
    name = "Verifying a pact between web and events Given a loan exists - a loan approved event"
    report = pact.parse(
        [write(tmp_path, "m.json", messages), junit(tmp_path, f'<testcase name="{name}"/>')], Options("t")
    )
    assert report.samples[0].value == 100.0


# --- pii-audit ---------------------------------------------------------------------------------------------


def test_real_server_log_is_clean_and_dated_by_its_newest_line() -> None:
    path = FIXTURES / "pii" / "api-clean.log"
    report = pii_audit.parse([path], Options("tenant-alfa"))
    newest = max(
        json.loads(line)["timestamp"] for line in path.read_text().splitlines() if line.startswith("{")
    )
    assert report.samples == [Sample("SC-005", 0.0, parse_time(newest, path, "t"), "manual")]
    assert report.details["records"] == len(path.read_text().splitlines())  # the banner line too, as text
    with pytest.raises(InputError, match="carry their own times"):
        pii_audit.parse([path], Options("tenant-alfa", collected_at=WHEN))


def test_findings_never_echo_the_value_and_tenants_come_from_resource_attributes(tmp_path: Path) -> None:
    lines = [
        {"name": "GET /x", "attributes": {"enduser.id": 12345678909}, "resource": {"tenant": "tenant-alfa"}},
        {
            "name": "GET /y",
            "attributes": {"note": "contato: joao@example.com"},
            "resource": {"tenant": "tenant-beta"},
        },
        {
            "event": "login",
            "password": "hunter2-secret",
            "api_key": "[REDACTED]",
            "route": "/cpf/123.456.789-09",
        },
        "plain text with a token=abcd1234efgh and nothing else",
    ]
    path = write(tmp_path, "mixed.log", "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines))
    report = pii_audit.parse([path], Options("Tenant-Alfa", collected_at=WHEN))
    kinds = [(f["line"], f["field"], f["kind"]) for f in report.details["findings"]]
    # `route` is a key the guard trusts; api_key is already masked; tenant-beta's span is skipped.
    assert kinds == [
        (1, "attributes.enduser.id", "cpf-or-phone"),
        (3, "password", "secret-field"),
        (4, "(text)", "secret"),
    ]
    assert report.details["skippedOtherTenants"] == 1
    assert report.samples[0].value == 3.0
    dumped = json.dumps(report.details, default=str) + json.dumps(report.warnings)
    for secret in ("12345678909", "joao@example.com", "hunter2", "abcd1234efgh"):
        assert secret not in dumped


def test_personal_data_in_keys_is_found_and_never_echoed_in_the_field_paths(tmp_path: Path) -> None:
    records = [
        {"timestamp": "2026-12-01T00:00:00Z", "event": "a", "by_user": {"123.456.789-09": "ok"}},
        {"timestamp": "2026-12-01T00:00:01Z", "maria.silva@example.com": {"phone": 11987654321}},
        {"timestamp": "2026-12-01T00:00:02Z", "event": "c", "by_user": {"alice": "ok"}},
    ]
    path = write(tmp_path, "keys.jsonl", "\n".join(json.dumps(record) for record in records))
    report = pii_audit.parse([path], Options("tenant-alfa"))
    kinds = [(f["line"], f["field"], f["kind"]) for f in report.details["findings"]]
    assert kinds == [
        (1, "by_user.[REDACTED]", "cpf"),
        (2, "[REDACTED]", "email"),
        (2, "[REDACTED].phone", "cpf-or-phone"),
    ]
    assert report.samples[0].value == 2.0
    dumped = json.dumps(report.details, default=str)
    for secret in ("123.456.789-09", "maria.silva", "11987654321"):
        assert secret not in dumped


def test_a_bad_record_time_is_an_input_error_that_does_not_quote_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.jsonl", json.dumps({"timestamp": "maria.silva@example.com", "event": "x"}))
    with pytest.raises(InputError, match="line 1: timestamp is not an RFC 3339") as raised:
        pii_audit.parse([path], Options("tenant-alfa"))
    assert "maria" not in str(raised.value)


ALFA_ID, BETA_ID = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"


@pytest.mark.parametrize(
    ("tenant", "incidents", "skipped", "warning"),
    [
        ("tenant-alfa", 4, 1, "2 record(s) name their tenant only by UUID"),
        (ALFA_ID.upper(), 3, 2, "1 record(s) name their tenant only by slug"),
    ],
)
def test_a_record_of_the_audited_tenant_is_never_skipped_for_naming_it_in_the_other_form(
    tmp_path: Path, tenant: str, incidents: int, skipped: int, warning: str
) -> None:
    """--tenant as a slug or a UUID: only a record naming another tenant in the same form is left out; one
    naming a tenant only in the other form cannot be compared offline and counts (with a warning), so an
    audit never comes out clean by leaving the tenant's own records out."""
    owners = [
        {"tenant": "tenant-alfa", "tenant_id": ALFA_ID},
        {"tenant": "tenant-beta", "tenant_id": BETA_ID},
        {"tenant": "tenant-alfa"},
        {"attributes": {"tenant_id": ALFA_ID}},
        {"resource": {"tenant_id": BETA_ID}},
    ]
    lines = [
        json.dumps({**owner, "timestamp": f"2026-12-01T00:00:0{i}Z", "event": "by 123.456.789-09"})
        for i, owner in enumerate(owners)
    ]
    path = write(tmp_path, "mixed-tenants.jsonl", "\n".join(lines))
    report = pii_audit.parse([path], Options(tenant))
    assert (report.samples[0].value, report.details["skippedOtherTenants"]) == (incidents, skipped)
    assert len(report.warnings) == 1 and report.warnings[0].startswith(warning), report.warnings


def test_audit_without_any_time_needs_collected_at(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.log", "all quiet\n")
    with pytest.raises(InputError, match="no record carries a time"):
        pii_audit.parse([path], Options("tenant-alfa"))
    assert pii_audit.parse([path], Options("tenant-alfa", collected_at=WHEN)).samples[0].value == 0.0


@pytest.mark.parametrize("content", ["", "\n\n", "[]"])
def test_an_audit_of_nothing_is_refused_not_a_clean_sample(tmp_path: Path, content: str) -> None:
    """An empty log (a failed export, the wrong path) would otherwise post SC-005 = 0: "met"."""
    empty = write(tmp_path, "empty.log", content)
    with pytest.raises(InputError, match="holds no record to audit") as raised:
        pii_audit.parse([empty], Options("tenant-alfa", collected_at=WHEN))
    assert raised.value.where == str(empty)
    # With records beside it the empty file adds nothing; records of other tenants only are an audit.
    other = write(tmp_path, "other.jsonl", json.dumps({"tenant": "tenant-beta", "event": "x"}) + "\n")
    assert pii_audit.parse([empty, other], Options("tenant-alfa", collected_at=WHEN)).samples[0].value == 0.0


# --- shared ------------------------------------------------------------------------------------------------


def test_times_are_kept_to_the_millisecond_the_api_stores() -> None:
    moment = parse_time("2026-11-30T09:00:00.123456789-03:00", Path("x"), "t")
    assert moment == datetime(2026, 11, 30, 12, 0, 0, 123000, tzinfo=UTC)
    with pytest.raises(InputError, match="not an RFC 3339"):
        parse_time("2026-11-30", Path("x"), "t")


def test_distinct_samples_drops_repeats_only() -> None:
    sample = Sample("SC-004", 90.0, WHEN, "ci")
    assert distinct_samples([sample, sample], "x") == [sample]
    assert len(distinct_samples([sample, Sample("SC-004", 80.0, WHEN, "ci", "other")], "x")) == 2
