"""A private PostgreSQL cluster for development and tests.

Usage: ``python -m foundation.ops.devtools.postgres up|down|purge|env|status [--dir var/pg]``.

`make db-up` / `make db-down` and the test suite use it. The cluster lives under ``./var/pg`` (or ``--dir``),
listens on 127.0.0.1 on a free port, runs as the ``postgres`` OS user when started by root, and uses
password (scram) authentication. It creates:

* ``foundation_owner`` — owns the ``foundation`` database and its schema; migrations and seeding use it;
* ``foundation_app`` — created by ``foundation db upgrade``: no ownership, no superuser, no BYPASSRLS.

``env`` prints the ``FOUNDATION_*`` lines to export for that cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from foundation.ops.devtools._proc import die, free_port, pid_alive, run, wait_until

OS_USER = "postgres"
OWNER = "foundation_owner"
APP_ROLE = "foundation_app"
DATABASE = "foundation"


def bin_dir() -> Path:
    try:
        out = subprocess.run(
            ["pg_config", "--bindir"],  # noqa: S607  # resolved on PATH on purpose (Debian's wrapper)
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    die("PostgreSQL server binaries not found; install them with: sudo apt-get install -y postgresql")
    raise AssertionError


@dataclass
class Cluster:
    directory: str
    port: int
    superuser_password: str
    owner_password: str
    app_password: str

    @property
    def data(self) -> Path:
        return Path(self.directory) / "data"

    def url(self, user: str, password: str, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{user}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def superuser_url(self) -> str:
        return self.url("postgres", self.superuser_password, "postgres")

    @property
    def owner_url(self) -> str:
        return self.url(OWNER, self.owner_password, DATABASE)

    @property
    def app_url(self) -> str:
        return self.url(APP_ROLE, self.app_password, DATABASE)

    def env(self) -> dict[str, str]:
        return {
            "FOUNDATION_DATABASE_URL": self.app_url,
            "FOUNDATION_MIGRATION_DATABASE_URL": self.owner_url,
            "FOUNDATION_DB_APP_ROLE": APP_ROLE,
            "FOUNDATION_TEST_PG_URL": self.superuser_url,
        }


def _state_file(directory: Path) -> Path:
    return directory / "cluster.json"


def load(directory: Path) -> Cluster | None:
    state = _state_file(directory)
    if not state.exists():
        return None
    return Cluster(**json.loads(state.read_text()))


def _pid(cluster: Cluster) -> int | None:
    pid_file = cluster.data / "postmaster.pid"
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_running(cluster: Cluster) -> bool:
    pid = _pid(cluster)
    return pid is not None and pid_alive(pid)


def _accessible_directory(requested: Path) -> Path:
    """The OS user must reach the data directory; when a parent is private (e.g. /root), use /tmp."""
    requested.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or run(["test", "-x", str(requested)], user=OS_USER, check=False).returncode == 0:
        return requested
    # A fixed, predictable name under /tmp is the point (the same cluster is found again); root only.
    name = f"foundation-pg-{abs(hash(str(requested.resolve()))) % 10**8}"
    fallback = Path("/tmp") / name  # noqa: S108
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def up(directory: Path, port: int | None = None, timeout: float = 60.0) -> Cluster:
    directory = directory.resolve()
    cluster = load(directory)
    if cluster is not None and is_running(cluster):
        return cluster
    binaries = bin_dir()
    if cluster is None:
        home = _accessible_directory(directory)
        cluster = Cluster(
            directory=str(home),
            port=free_port(port or 55432),
            superuser_password=secrets.token_hex(12),
            owner_password=secrets.token_hex(12),
            app_password=secrets.token_hex(12),
        )
        _initdb(binaries, cluster)
        directory.mkdir(parents=True, exist_ok=True)
        _state_file(directory).write_text(json.dumps(asdict(cluster), indent=2))
        _state_file(directory).chmod(0o600)
        fresh = True
    else:
        cluster.port = free_port(cluster.port)
        _state_file(directory).write_text(json.dumps(asdict(cluster), indent=2))
        fresh = False
    _start(binaries, cluster, timeout)
    if fresh:
        _create_owner(binaries, cluster)
    return cluster


def _initdb(binaries: Path, cluster: Cluster) -> None:
    home = Path(cluster.directory)
    home.mkdir(parents=True, exist_ok=True)
    password_file = home / ".pw"
    password_file.write_text(cluster.superuser_password + "\n")
    if os.geteuid() == 0:
        shutil.chown(home, OS_USER, OS_USER)
        shutil.chown(password_file, OS_USER, OS_USER)
    try:
        run(
            [
                str(binaries / "initdb"),
                "-D",
                str(cluster.data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            user=OS_USER,
        )
    finally:
        password_file.unlink(missing_ok=True)


def _start(binaries: Path, cluster: Cluster, timeout: float) -> None:
    log = Path(cluster.directory) / "postgres.log"
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={cluster.port} "
        f"-c unix_socket_directories={cluster.directory} "
        "-c max_connections=200 -c shared_buffers=128MB -c fsync=on -c synchronous_commit=on"
    )
    run(
        [
            str(binaries / "pg_ctl"),
            "-D",
            str(cluster.data),
            "-l",
            str(log),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        ],
        user=OS_USER,
    )
    wait_until(lambda: _ready(binaries, cluster), timeout, "PostgreSQL")


def _ready(binaries: Path, cluster: Cluster) -> bool:
    result = run([str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(cluster.port)], check=False)
    return result.returncode == 0


def _psql(binaries: Path, cluster: Cluster, sql: str, database: str = "postgres") -> None:
    env = {**os.environ, "PGPASSWORD": cluster.superuser_password}
    result = subprocess.run(
        [
            str(binaries / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr.strip()}")


def _create_owner(binaries: Path, cluster: Cluster) -> None:
    _psql(binaries, cluster, f"CREATE ROLE {OWNER} LOGIN CREATEDB PASSWORD '{cluster.owner_password}'")
    _psql(binaries, cluster, f"CREATE DATABASE {DATABASE} OWNER {OWNER}")
    # The application role is created by `foundation db upgrade`; the owner needs CREATEROLE for that.
    _psql(binaries, cluster, f"ALTER ROLE {OWNER} CREATEROLE")
    _psql(binaries, cluster, f"ALTER SCHEMA public OWNER TO {OWNER}", database=DATABASE)


def stop(directory: Path, timeout: float = 30.0, *, mode: str = "fast") -> bool:
    """``pg_ctl stop -m <mode>``: ``fast`` (sessions terminated, clean shutdown) or ``immediate`` (no
    shutdown checkpoint: the next start runs crash recovery, as after a crash)."""
    if mode not in ("smart", "fast", "immediate"):
        raise ValueError(f"unknown shutdown mode {mode!r}")
    cluster = load(directory.resolve())
    if cluster is None or not is_running(cluster):
        return False
    binaries = bin_dir()
    result = run(
        [
            str(binaries / "pg_ctl"),
            "-D",
            str(cluster.data),
            "-m",
            mode,
            "-w",
            "-t",
            str(int(timeout)),
            "stop",
        ],
        user=OS_USER,
        check=False,
    )
    if result.returncode != 0:
        pid = _pid(cluster)
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
    return True


def down(directory: Path, *, purge: bool = False) -> None:
    directory = directory.resolve()
    cluster = load(directory)
    stop(directory)
    if purge and cluster is not None:
        shutil.rmtree(cluster.directory, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m foundation.ops.devtools.postgres", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=["up", "down", "purge", "env", "status"])
    parser.add_argument("--dir", default="var/pg", type=Path)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    try:
        if args.action == "up":
            cluster = up(args.dir, args.port)
            print(f"postgres: 127.0.0.1:{cluster.port} (data {cluster.data})")
            print(
                "# export the settings with: "
                f'eval "$(python -m foundation.ops.devtools.postgres env --dir {args.dir})"'
            )
        elif args.action in ("down", "purge"):
            down(args.dir, purge=args.action == "purge")
            print("postgres: stopped" + (" and removed" if args.action == "purge" else ""))
        elif args.action == "env":
            found = load(args.dir.resolve())
            if found is None:
                die(f"no cluster under {args.dir}; run `make db-up` first")
                return
            for key, value in found.env().items():
                print(f"export {key}='{value}'")
        else:
            found = load(args.dir.resolve())
            state = "running" if found and is_running(found) else "stopped"
            print(f"postgres: {state}" + (f" on 127.0.0.1:{found.port}" if found else ""))
    except (RuntimeError, TimeoutError) as exc:
        die(str(exc))


if __name__ == "__main__":
    main()
