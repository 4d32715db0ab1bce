"""foundation.ops.procs: the one free_port and the one wait_until used by the tools, bench/ and the tests.

wait_until's deadline logic runs on an injected clock, so these tests do not wait.
"""

from __future__ import annotations

import socket

import pytest

from foundation.ops.procs import WaitTimeout, free_port, port_is_free, wait_until


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_truthy_answer_without_sleeping_more_than_needed() -> None:
    clock = FakeClock()
    answers = iter([None, 0, [], "ready"])
    value = wait_until(lambda: next(answers), 10, 0.5, what="x", clock=clock, sleep=clock.sleep)
    assert value == "ready"
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_times_out_at_the_deadline_with_a_last_try_there() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def never() -> int:
        calls.append(clock.now)
        return 0

    with pytest.raises(WaitTimeout) as caught:
        wait_until(never, 1.0, 0.4, what="the moon", clock=clock, sleep=clock.sleep)
    assert str(caught.value) == "gave up after 1s waiting for the moon"
    assert isinstance(caught.value, TimeoutError) and caught.value.last == 0
    # Sleeps never overshoot the deadline; the last call happens exactly at it.
    assert clock.sleeps == pytest.approx([0.4, 0.4, 0.2])
    assert calls == pytest.approx([1000.0, 1000.4, 1000.8, 1001.0])


def test_runs_once_even_with_a_zero_timeout() -> None:
    clock = FakeClock()
    assert wait_until(lambda: 7, 0, what="x", clock=clock, sleep=clock.sleep) == 7
    with pytest.raises(WaitTimeout):
        wait_until(lambda: None, 0, what="x", clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_listed_exceptions_count_as_not_yet_others_stop_the_wait() -> None:
    clock = FakeClock()
    attempts = iter([ConnectionError("refused"), ConnectionError("refused"), True])

    def flaky() -> bool:
        outcome = next(attempts)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    assert wait_until(flaky, 5, what="x", ignore=(ConnectionError,), clock=clock, sleep=clock.sleep)

    def exited() -> bool:
        raise RuntimeError("server exited with 1")

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(exited, 5, what="x", ignore=(ConnectionError,), clock=clock, sleep=clock.sleep)
    assert len(clock.sleeps) == 2


def test_real_clock_and_sleep_are_the_defaults() -> None:
    with pytest.raises(WaitTimeout):
        wait_until(lambda: False, 0.05, 0.01, what="nothing")


def test_free_port_is_bindable_and_prefers_the_given_port() -> None:
    port = free_port()
    assert port_is_free(port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert not port_is_free(port)
        other = free_port(port)
        assert other != port and port_is_free(other)
    assert free_port(port) == port
    assert free_port(port, taken={port}) != port
