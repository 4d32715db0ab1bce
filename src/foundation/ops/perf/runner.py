"""Locust as a library: a headless local runner driving one user class for a fixed duration.

locust is imported inside :func:`import_locust` only (it monkey-patches the stdlib through gevent).
A greenlet refreshes a rich progress bar with the live request rate and error count.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from foundation.ops.perf.stats import Recorder

if TYPE_CHECKING:
    from locust.runners import LocalRunner

MAX_SPAWN_RATE = 100.0


@dataclass
class LoadResult:
    recorder: Recorder
    elapsed_seconds: float
    started_at_epoch: float
    exceptions: list[str] = field(default_factory=list)


def import_locust() -> None:
    """Import locust (and gevent's monkey patching) once, quietly."""
    warnings.filterwarnings("ignore", message=".*[Mm]onkey-patching.*")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import locust  # noqa: F401
    logging.getLogger("locust").setLevel(logging.ERROR)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[live]}"),
        console=console,
        auto_refresh=False,
        transient=False,
    )


def run_load(
    user_class_factory: Callable[[Recorder], type],
    *,
    vus: int,
    duration_seconds: float,
    host: str,
    console: Console | None = None,
    description: str = "perf smoke",
    tick_seconds: float = 0.5,
) -> LoadResult:
    """Run ``vus`` users of the class built by ``user_class_factory`` for ``duration_seconds``.

    Every request locust reports is fed to a :class:`Recorder`; the elapsed time is the real wall-clock
    time from the start of spawning until every user has stopped.
    """
    import_locust()
    from locust.env import Environment

    recorder = Recorder()
    env = Environment(user_classes=[user_class_factory(recorder)], host=host, catch_exceptions=True)
    env.events.request.add_listener(_request_listener(recorder))
    runner = env.create_local_runner()
    progress = _progress(console or Console(stderr=True))
    task_id = progress.add_task(description, total=duration_seconds, live="starting")

    started_epoch = time.time()
    recorder.started_at = time.monotonic()
    runner.start(vus, spawn_rate=min(MAX_SPAWN_RATE, max(float(vus) * 4, 1.0)))
    with progress:
        _watch(runner, recorder, progress, task_id, duration_seconds, tick_seconds)
        runner.quit()
        elapsed = time.monotonic() - recorder.started_at
        progress.update(task_id, completed=duration_seconds)
        progress.refresh()
    exceptions = [str(row.get("msg", "")) for row in runner.exceptions.values()]
    return LoadResult(recorder, elapsed, started_epoch, exceptions)


def _request_listener(recorder: Recorder) -> Callable[..., None]:
    """A listener for locust's ``request`` event feeding every request to ``recorder``."""

    def on_request(
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: Any = None,
        **_: Any,
    ) -> None:
        message = None if exception is None else str(exception)
        recorder.record(name, response_time or 0.0, exception is not None, time.monotonic(), message)

    return on_request


def _watch(
    runner: LocalRunner,
    recorder: Recorder,
    progress: Progress,
    task_id: TaskID,
    duration_seconds: float,
    tick_seconds: float,
) -> None:
    """Until the deadline, yield to the users' greenlets and refresh the live request rate every tick."""
    import gevent

    deadline = recorder.started_at + duration_seconds
    last_count, last_at = 0, recorder.started_at
    while (remaining := deadline - time.monotonic()) > 0:
        gevent.sleep(min(tick_seconds, remaining))
        now = time.monotonic()
        total = recorder.total
        rate = (total - last_count) / (now - last_at) if now > last_at else 0.0
        last_count, last_at = total, now
        progress.update(
            task_id,
            completed=min(now - recorder.started_at, duration_seconds),
            live=f"{rate:7.1f} req/s  {total} reqs  {recorder.failed} errors  {runner.user_count} VUs",
        )
        progress.refresh()
