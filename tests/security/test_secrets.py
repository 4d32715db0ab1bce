"""Secrets: detect-secrets over a fixture tree and the files its Dockerfile would COPY into the image."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.security.conftest import run_check


def leaked_tree(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "app").mkdir(parents=True)
    (root / "src" / "app" / "main.py").write_text("def main() -> None:\n    print('hello')\n")
    # Generated here, never kept in the repository: the point is that the scan finds it.
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (root / "src" / "app" / "signing.pem").write_bytes(key)
    (root / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY src ./src\nCOPY --from=builder /x /x\n")
    return root


def test_a_leaked_key_in_a_fixture_tree_fails(tmp_path: Path) -> None:
    root = leaked_tree(tmp_path)
    verdict = run_check("secrets", root, tmp_path / "evidence")
    assert verdict.status == "fail"
    assert "Private Key in src/app/signing.pem" in verdict.summary
    report = json.loads((tmp_path / "evidence" / "secrets-findings.json").read_text())
    assert report["dockerfileCopySources"] == ["src"]
    (finding,) = report["unreviewed"]
    assert finding["inImage"] is True


def test_a_reviewed_fixture_is_allowed_by_its_hash(tmp_path: Path) -> None:
    root = leaked_tree(tmp_path)
    first = run_check("secrets", root, tmp_path / "first")
    assert first.status == "fail"
    (finding,) = json.loads((tmp_path / "first" / "secrets-findings.json").read_text())["unreviewed"]
    (root / "security").mkdir()
    (root / "security" / "secrets-allowlist.yml").write_text(
        f"allow:\n  - file: {finding['file']}\n    type: {finding['type']}\n"
        f"    hashed_secret: {finding['hashed_secret']}\n    reason: a throw-away test key\n"
    )
    verdict = run_check("secrets", root, tmp_path / "second")
    assert verdict.status == "pass", verdict.summary
    assert "1 reviewed fixture(s)" in verdict.summary
