"""Pass rates with Wilson intervals, and the numbers of each group of runs."""

from __future__ import annotations

import pytest

from scylla_build.layout import RunKey
from scylla_build.plot import pass_rate_png
from scylla_build.record import RunRecord
from scylla_build.summary import (
    ALL,
    GroupSummary,
    summarise,
    summary_of,
    wilson_interval,
)

# Bounds solved independently, by bisection on (k/n - p)^2 = z^2 p(1-p)/n,
# and matching published tables (7 of 10: 0.3968 to 0.8922).
KNOWN_INTERVALS = [
    (0, 3, 0.0, 0.561497), (1, 3, 0.061492, 0.792340), (3, 3, 0.438503, 1.0),
    (3, 4, 0.300642, 0.954413), (4, 7, 0.250458, 0.841780),
    (3, 9, 0.120584, 0.645798), (7, 10, 0.396778, 0.892209),
]


@pytest.mark.parametrize(("passed", "judged", "low", "high"), KNOWN_INTERVALS)
def test_wilson_interval_matches_known_bounds(passed: int, judged: int,
                                              low: float, high: float) -> None:
    found = wilson_interval(passed, judged)
    assert found == pytest.approx((low, high), abs=1e-6)


def test_wilson_interval_refuses_no_trials() -> None:
    with pytest.raises(ValueError, match="trials > 0"):
        wilson_interval(0, 0)


def record(key: str, status: str, **fields: object) -> RunRecord:
    return RunRecord(RunKey.parse(key), status, **fields)  # type: ignore[arg-type]


def test_summarise_leaves_errors_out_of_the_pass_rate() -> None:
    row = summarise("T0", "s00", [
        record("T0:s00:1", "passed", agent_duration=3.0, cost_usd=0.5),
        record("T0:s00:2", "failed", agent_duration=1.0),
        record("T0:s00:3", "error", agent_duration=2.0, cost_usd=0.25),
        record("T0:s00:4", "running")])
    assert (row.runs, row.passed, row.failed, row.error, row.unfinished) == (
        4, 1, 1, 1, 1)
    assert row.rate == 0.5
    assert row.median_duration == 2.0
    assert row.cost_usd == 0.75
    assert row.input_tokens is None


def test_summarise_without_verdicts_has_no_rate() -> None:
    row = summarise("T0", "s00", [record("T0:s00:1", "error")])
    assert row.rate is None
    assert row.interval is None


def test_summary_of_orders_groups_and_lists_retries_and_unfinished() -> None:
    summary = summary_of([
        record("T1:s01:1", "passed", attempt=2), record("T0:s00:1", "passed"),
        record("T1:s02:1", "agent_complete"), record("T1:s01:2", "failed")])
    assert [(row.tier, row.subtest) for row in summary.rows] == [
        (ALL, ALL), ("T0", ALL), ("T0", "s00"), ("T1", ALL), ("T1", "s01"),
        ("T1", "s02")]
    assert [str(r.key) for r in summary.later_passes] == ["T1:s01:1"]
    assert [str(r.key) for r in summary.never_completed] == ["T1:s02:1"]


@pytest.mark.parametrize("trials", [1, 3, 7, 10, 49, 1000])
def test_wilson_interval_contains_all_pass_and_all_fail_rates(trials: int) -> None:
    low, high = wilson_interval(trials, trials)
    assert low <= 1.0 == high
    low, high = wilson_interval(0, trials)
    assert low == 0.0 <= high


def test_pass_rate_plot_draws_many_all_pass_subtests() -> None:
    rows = [GroupSummary(f"T{tier}", f"s{sub:02d}", 10, 10, 0, 0, 0.1,
                         None, None, None)
            for tier in range(20) for sub in range(50)]
    assert pass_rate_png(rows).startswith(b"\x89PNG")
