"""Counts, pass rates and totals of run records, per tier and per subtest.

The pass rate is passed / (passed + failed): an error says nothing about the
agent, so errors stay out of the denominator and are counted apart. Its 95%
confidence interval is the Wilson score interval, which stays inside [0, 1]
and behaves at 0 and at n, unlike the normal approximation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from scylla_build.record import RunRecord

# The 0.975 quantile of the standard normal distribution: a 95% interval.
Z_95 = 1.959963984540054
ALL = "(all)"
Number = TypeVar("Number", int, float)


def wilson_interval(successes: int, trials: int,
                    z: float = Z_95) -> tuple[float, float]:
    """Return the Wilson score interval of a binomial proportion."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, "
                         f"found {successes} of {trials}")
    rate = successes / trials
    spread = z * z / trials
    centre = (rate + spread / 2) / (1 + spread)
    half = (z / (1 + spread)) * math.sqrt(
        rate * (1 - rate) / trials + spread / (4 * trials))
    # Exact arithmetic puts the rate inside the interval (a bound at 0 or 1
    # for all-fail or all-pass); floats can miss it by one ulp.
    return max(0.0, min(centre - half, rate)), min(1.0, max(centre + half, rate))


@dataclass(frozen=True)
class GroupSummary:
    """The numbers of one group of runs: everything, a tier, or a subtest."""

    tier: str
    subtest: str
    runs: int
    passed: int
    failed: int
    error: int
    median_duration: float | None
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None

    @property
    def unfinished(self) -> int:
        return self.runs - self.passed - self.failed - self.error

    @property
    def judged(self) -> int:
        """Return the runs that count for the pass rate."""
        return self.passed + self.failed

    @property
    def rate(self) -> float | None:
        return self.passed / self.judged if self.judged else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.passed, self.judged) if self.judged else None

    @property
    def label(self) -> str:
        """Name the group in plots: `all`, `T1` or `T1:s01`."""
        if self.tier == ALL:
            return "all"
        return self.tier if self.subtest == ALL else f"{self.tier}:{self.subtest}"


def summarise(tier: str, subtest: str,
              records: Sequence[RunRecord]) -> GroupSummary:
    """Return the numbers of one group of records."""
    statuses = [record.status for record in records]
    durations = [record.agent_duration for record in records
                 if record.agent_duration is not None]
    return GroupSummary(
        tier, subtest, len(records), statuses.count("passed"),
        statuses.count("failed"), statuses.count("error"),
        statistics.median(durations) if durations else None,
        _total(record.cost_usd for record in records),
        _total(record.input_tokens for record in records),
        _total(record.output_tokens for record in records))


def summary_rows(records: Sequence[RunRecord]) -> list[GroupSummary]:
    """Return everything, then each tier followed by its subtests."""
    rows = [summarise(ALL, ALL, records)]
    for tier in sorted({record.key.tier for record in records}):
        in_tier = [record for record in records if record.key.tier == tier]
        rows.append(summarise(tier, ALL, in_tier))
        for subtest in sorted({record.key.subtest for record in in_tier}):
            rows.append(summarise(tier, subtest, [
                record for record in in_tier if record.key.subtest == subtest]))
    return rows


def later_passes(records: Iterable[RunRecord]) -> list[RunRecord]:
    """Return the runs that passed only on a second or later attempt."""
    return [record for record in records
            if record.status == "passed" and (record.attempt or 1) > 1]


def never_completed(records: Iterable[RunRecord]) -> list[RunRecord]:
    """Return the runs with neither a verdict nor an error."""
    return [record for record in records if not record.finished]


def _total(values: Iterable[Number | None]) -> Number | None:
    present = [value for value in values if value is not None]
    return sum(present[1:], start=present[0]) if present else None


@dataclass(frozen=True)
class Summary:
    """Everything the report shows about a set of records."""

    records: list[RunRecord]
    rows: list[GroupSummary]
    later_passes: list[RunRecord]
    never_completed: list[RunRecord]


def summary_of(records: Sequence[RunRecord]) -> Summary:
    """Return the rows and lists of the report for these records."""
    return Summary(list(records), summary_rows(records), later_passes(records),
                   never_completed(records))
