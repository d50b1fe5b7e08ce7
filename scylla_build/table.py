"""The report's words and numbers as text: table cells and run lists.

report.md and report.html show the same text, so both take it from here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from scylla_build.keyrange import compact_keys
from scylla_build.record import RunRecord
from scylla_build.summary import GroupSummary, Summary

HEADINGS = ("tier", "subtest", "runs", "passed", "failed", "error", "unfinished",
            "pass rate", "95% CI", "median agent s", "cost USD", "tokens in",
            "tokens out")
ABSENT = "-"
RATE_NOTE = ("Pass rate is passed / (passed + failed) with its 95% Wilson score "
             "interval; runs that ended in error are left out of it and counted "
             "in the error column. Cost and tokens add up what the agents "
             "reported; a dash where none did.")


def cells(row: GroupSummary) -> list[str]:
    """Return one table row's cells, in the order of HEADINGS."""
    return [row.tier, row.subtest, str(row.runs), str(row.passed),
            str(row.failed), str(row.error), str(row.unfinished),
            percent(row.rate), interval_text(row.interval),
            _optional(row.median_duration, "{:.1f}"),
            _optional(row.cost_usd, "{:.4f}"),
            _optional(row.input_tokens, "{:,}"),
            _optional(row.output_tokens, "{:,}")]


def percent(value: float | None) -> str:
    """Write a proportion as a percentage with one decimal, or n/a."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def interval_text(interval: tuple[float, float] | None) -> str:
    """Write an interval of proportions as `low-high%`."""
    if interval is None:
        return "n/a"
    low, high = interval
    return f"{100 * low:.1f}-{100 * high:.1f}%"


def later_pass_lines(summary: Summary) -> list[str]:
    """Return `attempt N: keys` lines for runs that passed after a retry."""
    by_attempt = itertools.groupby(
        sorted(summary.later_passes, key=lambda r: (r.attempt or 1, r.key)),
        key=lambda record: record.attempt or 1)
    return [f"attempt {attempt}: {_keys(records)}"
            for attempt, records in by_attempt]


def unfinished_lines(summary: Summary) -> list[str]:
    """Return `status: keys` lines for runs with no verdict and no error."""
    by_status = itertools.groupby(
        sorted(summary.never_completed, key=lambda r: (r.status, r.key)),
        key=lambda record: record.status)
    return [f"{status}: {_keys(records)}" for status, records in by_status]


def _keys(records: Iterable[RunRecord]) -> str:
    return ", ".join(compact_keys(record.key for record in records))


def _optional(value: float | None, form: str) -> str:
    return ABSENT if value is None else form.format(value)
