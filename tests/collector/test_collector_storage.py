"""Rotation with a size cap, directly and through the running collector."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from foundation.ops.collector.server import collector_in_thread
from foundation.ops.collector.storage import RotatingJsonlFile


def test_rotation_keeps_max_files(tmp_path: Path) -> None:
    target = RotatingJsonlFile(tmp_path / "spans.jsonl", max_file_bytes=200, max_files=3)
    for index in range(50):
        target.write_many([{"i": index, "pad": "x" * 40}])
    files = target.files()
    assert [path.name for path in files] == ["spans.jsonl", "spans.jsonl.1", "spans.jsonl.2"]
    assert not (tmp_path / "spans.jsonl.3").exists()
    for path in files:
        assert path.stat().st_size <= 200
    newest = [json.loads(line)["i"] for line in files[0].read_text().splitlines()]
    older = [json.loads(line)["i"] for line in files[1].read_text().splitlines()]
    assert newest[-1] == 49 and older[-1] == newest[0] - 1


def test_single_file_mode_and_oversized_line(tmp_path: Path) -> None:
    target = RotatingJsonlFile(tmp_path / "logs.jsonl", max_file_bytes=10, max_files=1)
    target.write_many([{"a": "0123456789"}, {"b": "0123456789"}])
    assert [path.name for path in target.files()] == ["logs.jsonl"]
    assert json.loads(target.path.read_text()) == {"b": "0123456789"}


def test_reopen_continues_size_accounting(tmp_path: Path) -> None:
    RotatingJsonlFile(tmp_path / "m.jsonl", 100, 2).write_many([{"pad": "y" * 60}])
    RotatingJsonlFile(tmp_path / "m.jsonl", 100, 2).write_many([{"pad": "z" * 60}])
    assert (tmp_path / "m.jsonl.1").exists()


@pytest.mark.integration
def test_collector_rotates_with_tiny_cap(tmp_path: Path) -> None:
    with collector_in_thread(tmp_path / "data", max_file_bytes=2048, max_files=2) as running:
        for index in range(20):
            document = {
                "resourceSpans": [
                    {
                        "scopeSpans": [
                            {
                                "spans": [
                                    {
                                        "traceId": f"{index + 1:032x}",
                                        "spanId": f"{index + 1:016x}",
                                        "name": f"span-{index}",
                                    }
                                    for _ in range(3)
                                ]
                            }
                        ]
                    }
                ]
            }
            assert httpx.post(f"{running.url}/v1/traces", json=document).status_code == 200
        assert httpx.get(f"{running.url}/stats").json()["spans"] == 60
    names = sorted(path.name for path in (tmp_path / "data").iterdir())
    assert names == ["spans.jsonl", "spans.jsonl.1"]
    assert all(path.stat().st_size <= 2048 for path in (tmp_path / "data").iterdir())
    last = (tmp_path / "data" / "spans.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["name"] == "span-19"
