"""``pact``: pact files (specification v2, v3, v4) plus a provider verification result → one SC-003 sample.

* **Catalogued interactions**: every interaction (HTTP or message) of the pact files given; one is identified
  by consumer, provider, provider states and description, as the Pact verifier names it:
  ``Verifying a pact between <consumer> and <provider>[ Given <state>[ And <state>…]] - <description>``.
* **Verification result**, either
  - JUnit XML as ``pact_verifier_cli --junit`` writes it (the Rust verifier behind pact-js, pact-python,
    pact-go and the standalone CLI): one ``testcase`` per verified interaction, named as above; no child
    element = passed, ``failure``/``error`` = failed, ``skipped`` = a failing *pending* interaction; or
  - the verifier's JSON report (``--json``): ``result``, ``errors`` and ``pendingErrors`` (each naming an
    interaction as above) and ``output``, whose ``Verifying a pact between C and P`` lines tell which pacts
    were verified; every interaction of those pacts that is not in ``errors``/``pendingErrors`` passed.
* SC-003 = catalogued interactions verified (passed, pending or not) / catalogued interactions, in percent.
  An interaction the result does not mention is not verified; a result naming an interaction absent from the
  pact files is reported (the catalogue given is then incomplete) and does not count.

``collectedAt``: the JUnit ``testsuite`` ``timestamp`` (the latest); the JSON report has none, so
``--collected-at`` is required with it (and refused with JUnit, whose time is in the file).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeElementTree

from foundation.client.ingest.model import (
    InputError,
    Options,
    Report,
    Sample,
    decode_text,
    expect,
    parse_time,
    percent,
    read_bytes,
)

KIND = "pact"
SOURCE = "ci"
SUPPORTED_SPECIFICATIONS = ("2", "3", "4")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
HEADER = re.compile(r"Verifying a pact between (.+?) and (.+?)\s*$")


def _name(text: str) -> str:
    return " ".join(ANSI.sub("", text).split())


@dataclass(frozen=True)
class Interaction:
    consumer: str
    provider: str
    states: tuple[str, ...]
    description: str

    @property
    def name(self) -> str:
        given = "".join((" Given " if i == 0 else " And ") + state for i, state in enumerate(self.states))
        return _name(
            f"Verifying a pact between {self.consumer} and {self.provider}{given} - {self.description}"
        )


# --- pact files --------------------------------------------------------------------------------------------


def _specification(document: dict[str, Any]) -> str | None:
    metadata = document.get("metadata", document.get("metaData"))  # metaData: older pact-jvm files
    if not isinstance(metadata, dict):
        return None
    for key in ("pactSpecification", "pact-specification"):
        value = metadata.get(key)
        if isinstance(value, dict) and isinstance(value.get("version"), str):
            return str(value["version"])
    version = metadata.get("pactSpecificationVersion")
    return version if isinstance(version, str) else None


def _states(item: dict[str, Any], path: Path, where: str) -> tuple[str, ...]:
    states = item.get("providerStates")
    if states is None:
        single = item.get("providerState") or item.get("provider_state")
        expect(single is None or isinstance(single, str), path, f"{where}: providerState must be a string")
        return (single,) if single else ()
    expect(isinstance(states, list), path, f"{where}: providerStates must be a list")
    names = []
    for state in states:
        expect(
            isinstance(state, dict) and isinstance(state.get("name"), str),
            path,
            f"{where}: a provider state has no name",
        )
        names.append(state["name"])
    return tuple(names)


def pact_interactions(document: dict[str, Any], path: Path) -> list[Interaction]:
    consumer, provider = document.get("consumer"), document.get("provider")
    expect(
        isinstance(consumer, dict) and isinstance(consumer.get("name"), str),
        path,
        "pact has no consumer name",
    )
    expect(
        isinstance(provider, dict) and isinstance(provider.get("name"), str),
        path,
        "pact has no provider name",
    )
    version = _specification(document)
    expect(version is not None, path, "pact has no metadata.pactSpecification.version")
    expect(
        str(version).split(".", 1)[0] in SUPPORTED_SPECIFICATIONS,
        path,
        f"pact specification {version} is not supported (2, 3 or 4)",
    )
    items = document.get("interactions", document.get("messages"))
    expect(isinstance(items, list), path, "pact has no interactions (or messages) list")
    found: list[Interaction] = []
    for index, item in enumerate(items):  # type: ignore[arg-type]
        where = f"interactions[{index}]"
        expect(
            isinstance(item, dict) and isinstance(item.get("description"), str),
            path,
            f"{where} has no description",
        )
        found.append(
            Interaction(consumer["name"], provider["name"], _states(item, path, where), item["description"])  # type: ignore[index]
        )
    return found


# --- verification results ----------------------------------------------------------------------------------


@dataclass
class Verification:
    passed: set[str]
    failed: set[str]
    verified_pacts: set[tuple[str, str]] | None  # JSON report: pacts whose interactions not failed passed
    collected_at: datetime | None


def junit_result(root: ElementTree.Element, path: Path) -> Verification:
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    expect(root.tag in ("testsuites", "testsuite") and bool(suites), path, "is not JUnit XML (no testsuite)")
    passed: set[str] = set()
    failed: set[str] = set()
    times: list[datetime] = []
    for suite in suites:
        stamp = (suite.get("timestamp") or "").strip()
        # A time without an offset (surefire writes local time) is ambiguous: left out, as if absent.
        if re.search(r"(?:[Zz]|[+-]\d\d:\d\d)$", stamp):
            times.append(parse_time(stamp, path, "testsuite timestamp"))
        for case in suite.iter("testcase"):
            name = case.get("name")
            expect(bool(name), path, "a testcase has no name")
            outcome = {child.tag for child in case} & {"failure", "error", "skipped"}
            if outcome:
                failed.add(_name(str(name)))
            else:
                passed.add(_name(str(name)))
    return Verification(passed - failed, failed, None, max(times) if times else None)


def json_result(document: dict[str, Any], path: Path) -> Verification:
    expect(isinstance(document.get("result"), bool), path, "verifier JSON report has no boolean 'result'")
    failed: set[str] = set()
    for key in ("errors", "pendingErrors"):
        items = document.get(key, [])
        expect(isinstance(items, list), path, f"verifier JSON report: {key} must be a list")
        for item in items:
            expect(
                isinstance(item, dict) and isinstance(item.get("interaction"), str),
                path,
                f"{key}: an item names no interaction",
            )
            failed.add(_name(item["interaction"]))
    output = document.get("output", [])
    expect(isinstance(output, list), path, "verifier JSON report: output must be a list of lines")
    pacts = set()
    for line in output:
        match = HEADER.search(ANSI.sub("", str(line)).strip())
        if match:
            pacts.add((_name(match.group(1)), _name(match.group(2))))
    expect(
        bool(pacts), path, "verifier JSON report names no verified pact (no 'Verifying a pact between' line)"
    )
    return Verification(set(), failed, pacts, None)


def _load(path: Path) -> tuple[list[Interaction], Verification | None]:
    text = decode_text(path, read_bytes(path)).strip()
    expect(bool(text), path, "is empty")
    if text.startswith("<"):
        # JUnit needs no DTD; refusing them keeps entity expansion out of the parser's reach.
        expect("<!DOCTYPE" not in text and "<!ENTITY" not in text, path, "XML with a DTD is not accepted")
        try:
            return [], junit_result(SafeElementTree.fromstring(text), path)
        except ElementTree.ParseError as exc:
            raise InputError(path, f"is not well-formed XML ({exc})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    expect(isinstance(document, dict), path, "is neither a pact file nor a verification result")
    if "consumer" in document and "provider" in document:
        return pact_interactions(document, path), None
    if "result" in document and ("errors" in document or "output" in document):
        return [], json_result(document, path)
    raise InputError(path, "is neither a pact file (consumer, provider) nor a pact verifier JSON report")


def _match(
    name: str, catalogue: dict[str, Interaction], by_description: dict[str, list[Interaction]]
) -> Interaction | None:
    if name in catalogue:
        return catalogue[name]
    candidates = by_description.get(name, [])
    return candidates[0] if len(candidates) == 1 else None


def _tally(
    verifications: list[tuple[Path, Verification]], interactions: dict[str, Interaction]
) -> tuple[set[str], set[str], set[str]]:
    """(verified, failed, unmatched) interaction names; a failure anywhere wins over a pass elsewhere."""
    by_description: dict[str, list[Interaction]] = {}
    for interaction in interactions.values():
        by_description.setdefault(_name(interaction.description), []).append(interaction)
    verified: set[str] = set()
    failed: set[str] = set()
    unmatched: set[str] = set()
    for _path, verification in verifications:
        for names, outcome in ((verification.failed, failed), (verification.passed, verified)):
            for name in names:
                match = _match(name, interactions, by_description)
                if match is None:
                    unmatched.add(name)
                else:
                    outcome.add(match.name)
        if verification.verified_pacts is not None:
            verified.update(
                i.name
                for i in interactions.values()
                if (i.consumer, i.provider) in verification.verified_pacts
            )
    return verified - failed, failed, unmatched


def parse(paths: Sequence[Path], options: Options) -> Report:
    interactions: dict[str, Interaction] = {}
    verifications: list[tuple[Path, Verification]] = []
    for path in paths:
        found, verification = _load(path)
        interactions.update({interaction.name: interaction for interaction in found})
        if verification is not None:
            verifications.append((path, verification))
    where = ", ".join(str(p) for p in paths)
    expect(
        bool(interactions), Path(where), "no pact file with interactions was given (the catalogue is empty)"
    )
    expect(bool(verifications), Path(where), "no verification result (JUnit XML or verifier JSON) was given")
    verified, failed, unmatched = _tally(verifications, interactions)
    times = [v.collected_at for _, v in verifications if v.collected_at is not None]
    if times and options.collected_at is not None:
        raise InputError(
            "--collected-at", "not used with JUnit results: their testsuite timestamp is the time"
        )
    collected_at = max(times) if times else options.collected_at
    if collected_at is None:
        raise InputError(
            where, "the verification result carries no time: pass --collected-at (e.g. the commit time)"
        )
    report = Report(
        KIND,
        [Sample("SC-003", percent(len(verified), len(interactions)), collected_at, SOURCE, options.feature)],
    )
    report.details.update(
        {
            "catalogued": len(interactions),
            "verified": len(verified),
            "failed": sorted(failed),
            "notVerified": sorted(name for name in interactions if name not in verified),
            "unmatched": sorted(unmatched),
        }
    )
    if unmatched:
        report.warnings.append(
            f"{len(unmatched)} verified interaction(s) are in no pact file given (catalogue incomplete?): "
            + "; ".join(sorted(unmatched)[:5])
        )
    return report
