"""SBOM: CycloneDX of a fixture lock, built by the real cyclonedx-py from a venv installed from that lock
(hashes checked), schema-validated, diffed against the previous run, checked against the licence policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from foundation.ops.security.sbom import diff, schema_errors
from foundation.ops.security.sbom_licences import expression_allowed, licence_findings, load_policy
from tests.security.conftest import ROOT, run_check

SIX = (
    "six==1.17.0 \\\n"
    "    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\\n"
    "    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81\n"
)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "requirements").mkdir(parents=True)
    (root / "requirements" / "runtime.txt").write_text(SIX)
    (root / "security").mkdir()
    shutil.copy(ROOT / "security" / "licence-policy.yml", root / "security" / "licence-policy.yml")
    return root


def test_sbom_of_a_lock_is_valid_with_hashes_and_licences(tmp_path: Path) -> None:
    root = project(tmp_path)
    runs = tmp_path / "runs"
    first = run_check(
        "sbom", root, runs / "20260101T000000Z-a" / "security" / "sbom", cache_dir=str(tmp_path / "c")
    )
    assert first.status == "pass", first.summary
    assert "1 components (CycloneDX 1.6, schema-valid: True)" in first.summary
    assert "no previous run" in first.summary
    sbom = json.loads((runs / "20260101T000000Z-a" / "security" / "sbom" / "sbom.cdx.json").read_text())
    assert schema_errors(sbom) == []
    (six,) = sbom["components"]
    assert six["purl"] == "pkg:pypi/six@1.17.0"
    assert six["licenses"][0]["license"]["id"] == "MIT"
    hashes = {h["content"] for ref in six["externalReferences"] for h in ref.get("hashes", [])}
    wheel = SIX.split("sha256:")[1].split()[0]  # the lock's first hash (a file digest, not a secret)
    assert wheel in hashes

    second = run_check(
        "sbom", root, runs / "20260102T000000Z-b" / "security" / "sbom", cache_dir=str(tmp_path / "c")
    )
    assert second.status == "pass" and "vs previous run: +0 -0 ~0" in second.summary


def test_strong_copyleft_and_unknown_licences_fail_the_policy(tmp_path: Path) -> None:
    policy = load_policy(ROOT / "security" / "licence-policy.yml")
    sbom = {
        "components": [
            {"name": "ok", "version": "1", "licenses": [{"license": {"id": "MIT"}}]},
            {"name": "weak", "version": "1", "licenses": [{"license": {"id": "LGPL-3.0-or-later"}}]},
            {"name": "mpl", "version": "1", "licenses": [{"license": {"id": "MPL-2.0"}}]},
            {"name": "dual", "version": "1", "licenses": [{"expression": "GPL-2.0-only OR MIT"}]},
            {"name": "gpl", "version": "1", "licenses": [{"license": {"id": "GPL-3.0-only"}}]},
            {"name": "agpl", "version": "1", "licenses": [{"expression": "MIT AND AGPL-3.0-or-later"}]},
            {
                "name": "classifier",
                "version": "1",
                "licenses": [
                    {"license": {"name": "License :: OSI Approved :: GNU General Public License v2 (GPLv2)"}}
                ],
            },
            {
                "name": "lesser",
                "version": "1",
                "licenses": [{"license": {"name": "GNU Lesser General Public License v3 (LGPLv3)"}}],
            },
            {"name": "unknown", "version": "1"},
        ]
    }
    report = licence_findings(sbom, policy)
    assert sorted(v["component"] for v in report["violations"]) == [
        "agpl==1",
        "classifier==1",
        "gpl==1",
        "unknown==1",
    ]
    assert expression_allowed("(GPL-3.0-only OR Apache-2.0) AND BSD-3-Clause", policy)
    assert not expression_allowed("GPL-2.0-only WITH Classpath-exception-2.0", policy)
    policy["exceptions"] = [{"package": "gpl", "reason": "a reviewed exception"}]
    report = licence_findings(sbom, policy)
    assert "gpl==1" not in [v["component"] for v in report["violations"]]
    assert report["exceptions"][0]["reason"] == "a reviewed exception"


def test_a_gpl_component_fails_the_sbom_check(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "security" / "licence-policy.yml").write_text(
        "deny:\n  spdx-prefixes: [MIT]\n"  # six is MIT: deny it to see the check fail end to end
    )
    verdict = run_check("sbom", root, tmp_path / "evidence", cache_dir=str(tmp_path / "c"))
    assert verdict.status == "fail"
    assert "six==1.17.0: strong copyleft licence: MIT" in verdict.summary


def test_diff_lists_added_removed_and_changed_components() -> None:
    old = {"components": [{"name": "a", "version": "1"}, {"name": "b", "version": "1"}]}
    new = {"components": [{"name": "A", "version": "2"}, {"name": "c", "version": "1"}]}
    changes = diff(old, new)
    assert changes["added"] == ["c==1"] and changes["removed"] == ["b==1"]
    assert changes["changed"][0]["from"] == "1" and changes["changed"][0]["to"] == "2"
