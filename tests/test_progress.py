"""Progress by run: what is to do, done and up to date, and the time left."""

from __future__ import annotations

import pytest

from scylla_build.layout import RunKey
from scylla_build.progress import (
    STEPS,
    Finish,
    Progress,
    duration_text,
    step_of,
)

A, B, C = RunKey("T0", "s00", 1), RunKey("T0", "s00", 2), RunKey("T1", "s01", 1)


def progress_of(*keys: RunKey) -> Progress:
    return Progress({key: set(STEPS) for key in keys}, set(keys))


def execute(progress: Progress, key: RunKey, now: float) -> None:
    """Start and finish a run's three tasks at `now`."""
    for step in STEPS:
        progress.start(step, key, now)
        progress.resolve(step, key, outcome="executed")


def test_step_of_reads_run_task_names_only() -> None:
    assert step_of("judge:T1:s01:3") == ("judge", RunKey("T1", "s01", 3))
    assert step_of("report") is None
    assert step_of("run:not-a-key") is None


def test_resolve_returns_the_run_once_all_its_tasks_ended() -> None:
    progress = progress_of(A)
    assert progress.resolve("workspace", A, outcome="skipped") is None
    assert progress.resolve("run", A, outcome="skipped") is None
    steps = progress.resolve("judge", A, outcome="executed")
    assert steps is not None and steps.skipped == {"workspace", "run"}
    assert progress.resolve("judge", A, outcome="executed") is None  # once only


def test_finish_line_has_counts_and_time_left() -> None:
    progress = progress_of(A, B, C)
    execute(progress, A, 0.0)
    progress.finish(Finish(A, "failed", "timeout", 2, 4.0, workspace_kept=False))
    line = progress.finish_line(progress.finished[-1], now=4.0)
    assert line == ("[1/3] T0:s00:1 failed (timeout) on attempt 2 in 4.0s | "
                    "passed 0, failed 1, error 0 | about 8.0s left")


def test_eta_counts_runs_in_flight_and_parallel_slots() -> None:
    progress = progress_of(A, B, C)
    execute(progress, A, 0.0)
    progress.finish(Finish(A, "passed", "judged", 1, 10.0, workspace_kept=False))
    progress.start("workspace", B, 10.0)
    progress.start("workspace", C, 14.0)
    # Two runs left of 10 s each, 4 s and 0 s into them, on two slots.
    assert progress.eta(now=14.0) == pytest.approx((2 * 10 - 4) / 2)


def test_skipped_runs_leave_the_runs_to_do_and_make_one_line() -> None:
    progress = progress_of(A, B, C)
    for key, status in ((A, "passed"), (B, "passed"), (C, "failed")):
        for step in STEPS:
            steps = progress.resolve(step, key, outcome="skipped")
        assert steps is not None
        progress.skip(key, steps, status)
    assert progress.todo == set()
    assert progress.up_to_date_line() == (
        "-- 3 runs up to date, workspaces preserved: T0:s00:1-2 passed, "
        "T1:s01:1 failed")


def test_judge_only_run_says_its_workspace_was_preserved() -> None:
    finish = Finish(A, "passed", "judged", 1, 0.25, workspace_kept=True)
    assert finish.describe() == "T0:s00:1 passed in 0.2s, workspace preserved"


@pytest.mark.parametrize(("seconds", "text"), [
    (0.44, "0.4s"), (42.2, "42s"), (185, "3m05s"), (7620, "2h07m")])
def test_duration_text_reads_like_a_clock(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
