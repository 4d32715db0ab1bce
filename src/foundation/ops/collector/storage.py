"""Rotating JSON-lines storage with a size cap: a collector left running must not fill the disk."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KINDS = ("spans", "metrics", "logs")
DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 5
# One encoder for every line: json.dumps with non-default arguments builds a new one per call.
_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


class RotatingJsonlFile:
    """``name.jsonl`` plus backups ``name.jsonl.1`` (newest) … ``name.jsonl.<max_files-1>``.

    ``max_files`` counts the live file too, so the disk footprint per kind is about
    ``max_files * max_file_bytes``. A single line larger than the cap is still written (alone in its file).
    """

    def __init__(self, path: Path, max_file_bytes: int, max_files: int) -> None:
        if max_file_bytes <= 0 or max_files <= 0:
            raise ValueError("max_file_bytes and max_files must be positive")
        self.path = path
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self._lock = threading.Lock()
        self._size = path.stat().st_size if path.exists() else 0

    def _rotate(self) -> None:
        backups = self.max_files - 1
        if backups <= 0:
            self.path.unlink(missing_ok=True)
        else:
            Path(f"{self.path}.{backups}").unlink(missing_ok=True)
            for index in range(backups - 1, 0, -1):
                source = Path(f"{self.path}.{index}")
                if source.exists():
                    source.replace(f"{self.path}.{index + 1}")
            if self.path.exists():
                self.path.replace(f"{self.path}.1")
        self._size = 0

    def write_many(self, records: Iterable[dict[str, Any]]) -> int:
        written = 0
        with self._lock:
            handle = self.path.open("ab")
            try:
                for record in records:
                    line = (_LINE_ENCODER.encode(record) + "\n").encode("utf-8")
                    if self._size and self._size + len(line) > self.max_file_bytes:
                        handle.close()
                        self._rotate()
                        handle = self.path.open("ab")
                    handle.write(line)
                    self._size += len(line)
                    written += 1
            finally:
                handle.close()
        return written

    def files(self) -> list[Path]:
        """Existing files, newest first."""
        candidates = [self.path] + [Path(f"{self.path}.{i}") for i in range(1, self.max_files)]
        return [path for path in candidates if path.exists()]


class Storage:
    def __init__(self, data_dir: Path, max_file_bytes: int, max_files: int) -> None:
        self.data_dir = data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.files = {
            kind: RotatingJsonlFile(self.data_dir / f"{kind}.jsonl", max_file_bytes, max_files)
            for kind in KINDS
        }

    def write(self, kind: str, records: Iterable[dict[str, Any]]) -> int:
        return self.files[kind].write_many(records)
