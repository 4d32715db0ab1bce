"""Request deadlines: one timer per event loop cancels the requests that outlive theirs."""

from __future__ import annotations

import asyncio
from typing import Any


class Deadlines:
    """Cancels request tasks that outlive their deadline, with one timer per event loop.

    ``asyncio.timeout`` schedules and cancels a timer handle per request (~13 µs of a cached read's ~30 µs
    in-process). Here a request costs two dict operations: every deadline is ``timeout`` after its start,
    so insertion order is deadline order, and a tick that runs only while requests are in flight cancels the
    expired ones from the front. A deadline fires up to ``granularity`` late.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.granularity = min(max(timeout / 20, 0.005), 0.5)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._fired: set[asyncio.Task[Any]] = set()
        self._tick: asyncio.TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any]) -> None:
        loop = task.get_loop()
        if loop is not self._loop:  # first use, or the app now runs on another loop (tests)
            self._loop, self._deadlines, self._fired, self._tick = loop, {}, set(), None
        self._deadlines[task] = loop.time() + self.timeout
        if self._tick is None:
            self._tick = loop.call_later(self.granularity, self._expire)

    def unwatch(self, task: asyncio.Task[Any]) -> bool:
        """Stops watching; True when the deadline fired (the task was cancelled for it)."""
        self._deadlines.pop(task, None)
        if task in self._fired:
            self._fired.discard(task)
            return True
        return False

    def _expire(self) -> None:
        assert self._loop is not None  # noqa: S101  # type narrowing, checked by the caller
        now = self._loop.time()
        expired = []
        for task, deadline in self._deadlines.items():
            if deadline > now:
                break
            expired.append(task)
        for task in expired:
            del self._deadlines[task]
            self._fired.add(task)
            task.cancel()
        self._tick = self._loop.call_later(self.granularity, self._expire) if self._deadlines else None
