"""The shared rate-limit pause: begun, extended, waited out, refused and ended."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scylla_build.checkpoint import Checkpoint
from scylla_build.layout import ResultsLayout
from scylla_build.pause import Pause
from scylla_build.ratelimit import Limit
from scylla_build.refusal import RefusalKind


class Clock:
    """A clock that moves only when the pause sleeps."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_pause(tmp_path: Path, clock: Clock) -> Pause:
    layout = ResultsLayout(tmp_path)
    checkpoint = Checkpoint(layout, "demo", "sha")
    return Pause(layout.state, checkpoint, clock=clock, sleep=clock.sleep)


def snapshot(tmp_path: Path) -> dict[str, object]:
    return dict(json.loads((tmp_path / "checkpoint.json").read_text()))


def test_begin_pauses_until_reset_and_shows_it(tmp_path: Path,
                                               clock: Clock) -> None:
    pause = make_pause(tmp_path, clock)
    until = pause.begin(Limit("limit reached", clock.now + 30), "T0:s00:1", 60)
    assert until == clock.now + 30 == pause.until()
    shown = snapshot(tmp_path)["pause"]
    assert shown == {"until": "1970-01-12T13:47:10+00:00",
                     "reason": "limit reached", "run": "T0:s00:1"}


def test_begin_without_reset_backs_off_and_doubles(tmp_path: Path,
                                                   clock: Clock) -> None:
    pause = make_pause(tmp_path, clock)
    assert pause.begin(Limit("x", None), "a", 10) == clock.now + 10
    # A second limit during the same pause is the same episode.
    assert pause.begin(Limit("x", None), "b", 10) == clock.now + 10
    clock.now += 11
    assert pause.begin(Limit("x", None), "c", 10) == clock.now + 20
    clock.now += 21
    pause.succeeded()
    assert pause.begin(Limit("x", None), "d", 10) == clock.now + 10


def test_wait_sleeps_past_the_pause_then_ends_it(tmp_path: Path,
                                                 clock: Clock) -> None:
    pause = make_pause(tmp_path, clock)
    until = pause.begin(Limit("x", clock.now + 3), "a", 60)
    assert pause.wait(60, "b") is None
    assert until <= clock.now <= until + 0.3 + 1e-6  # jitter: 10% of 3 s
    assert all(step <= 0.2 + 1e-9 for step in clock.slept)
    assert pause.until() is None
    assert "pause" not in snapshot(tmp_path)


def test_wait_refuses_a_pause_longer_than_max_wait(tmp_path: Path,
                                                   clock: Clock) -> None:
    pause = make_pause(tmp_path, clock)
    pause.begin(Limit("x", clock.now + 7200), "a", 60)
    refusal = pause.wait(60, "b")
    assert refusal is not None and refusal.kind == RefusalKind.RATE_LIMITED
    assert "max_wait = 60 s" in refusal.message
    assert clock.slept == []
    assert pause.refusal(60) == refusal
    assert pause.refusal(7200) is None


def test_wait_without_pause_returns_at_once(tmp_path: Path, clock: Clock) -> None:
    assert make_pause(tmp_path, clock).wait(60, "a") is None
    assert clock.slept == []
