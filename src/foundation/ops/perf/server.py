"""A self-started API server for a smoke run: temp dir, fresh SQLite database, seeded, raised rate limits,
free port on 127.0.0.1, readiness polled with a deadline, stopped by PID, temp dir removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from foundation.ops.procs import WaitTimeout, free_port, stop_process_group, wait_until
from foundation.settings import Settings

# Every per-minute budget the API has, read from its settings so a new endpoint class is raised too (the
# scaffold-list budget was missing here, and the DAST probes ran into it as 429s).
RATE_LIMIT_VARIABLES = tuple(
    f"FOUNDATION_{name.upper()}"
    for name in Settings.model_fields
    if name.startswith("rate_limit_") and name.endswith("_per_minute")
)
RAISED_RATE_LIMIT = "1000000"
CLI_ENTRY = "from foundation.cli.main import main; main()"


class ServerError(RuntimeError):
    """The self-started server could not be prepared or did not become ready."""


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """Status code of a GET, or None when the server cannot be reached."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # scheme checked above
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


class _Exited(Exception):
    pass


def wait_ready(
    url: str, deadline_seconds: float, *, expect: int = 200, alive: subprocess.Popen | None = None
) -> bool:
    """True once ``url`` answers ``expect``; False when the deadline passes or the process ``alive`` exits."""

    def answered() -> bool:
        if alive is not None and alive.poll() is not None:
            raise _Exited
        return http_status(url, timeout=min(2.0, max(0.1, deadline_seconds))) == expect

    try:
        return wait_until(answered, deadline_seconds, 0.1, what=url)
    except (WaitTimeout, _Exited):
        return False


def server_environment(database_url: str, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["FOUNDATION_DATABASE_URL"] = database_url
    env["FOUNDATION_PROFILE"] = "local"
    for name in RATE_LIMIT_VARIABLES:
        env[name] = RAISED_RATE_LIMIT
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class ApiServer:
    """Start with :meth:`start`, stop with :meth:`stop` (also usable as a context manager)."""

    host: str = "127.0.0.1"
    ready_timeout: float = 90.0
    prepare_timeout: float = 120.0
    port: int = 0
    workdir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log_file: object | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _cli(self, *args: str) -> list[str]:
        # Equivalent to `python -m foundation.cli.main ...`, but independent of a `__main__` guard there.
        return [sys.executable, "-c", CLI_ENTRY, *args]

    def start(self) -> ApiServer:
        self.workdir = Path(tempfile.mkdtemp(prefix="foundation-perf-"))
        database = self.workdir / "foundation.db"
        env = server_environment(f"sqlite+aiosqlite:///{database}")
        self.log_path = self.workdir / "server.log"
        try:
            for step in (("db", "upgrade"), ("seed", "--demo-data")):
                result = subprocess.run(
                    self._cli(*step),
                    env=env,
                    cwd=self.workdir,
                    capture_output=True,
                    timeout=self.prepare_timeout,
                )
                if result.returncode != 0:
                    tail = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()[-5:]
                    raise ServerError(f"`foundation {' '.join(step)}` failed: {' | '.join(tail)}")
            self.port = free_port(host=self.host)
            log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
            self._log_file = log
            self.process = subprocess.Popen(
                self._cli("serve", "--host", self.host, "--port", str(self.port)),
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            if not wait_ready(f"{self.base_url}/health/ready", self.ready_timeout, alive=self.process):
                raise ServerError(
                    f"server did not become ready within {self.ready_timeout:g}s: {self.log_tail()}"
                )
        except subprocess.TimeoutExpired as exc:
            self.stop()
            raise ServerError(f"server preparation timed out: {exc}") from exc
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, lines: int = 8) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no server log)"
        text = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        return " | ".join(text) or "(empty server log)"

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is not None:
            # The server runs in its own session: its process group (id = its PID) holds its workers too.
            stop_process_group(process, timeout)
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
