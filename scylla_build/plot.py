"""The report's plots, drawn as PNG images with matplotlib's Agg backend.

Importing this module imports matplotlib, which takes a noticeable part of a
second: report.py imports it only when it writes a report.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scylla_build.record import RunRecord
from scylla_build.summary import ALL, GroupSummary

DPI = 100
HEIGHT_INCHES = 4.0
TIER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def pass_rate_png(rows: Sequence[GroupSummary]) -> bytes:
    """Plot each tier's and subtest's pass rate with its 95% interval."""
    shown = [row for row in rows if row.tier != ALL]
    figure, axes = _canvas(len(shown))
    axes.set_title("Pass rate by tier and subtest (95% Wilson interval)")
    if not shown:
        _say(axes, "no runs recorded yet")
        return _png(figure)
    colours = _tier_colours(row.tier for row in shown)
    for position, row in enumerate(shown):
        _rate_point(axes, position, row, colours[row.tier])
    axes.set_xticks(range(len(shown)), [row.label for row in shown],
                    rotation=30 if len(shown) > 6 else 0, ha="right"
                    if len(shown) > 6 else "center")
    axes.set_ylim(-0.05, 1.12)
    axes.set_xlim(-0.6, len(shown) - 0.4)
    axes.set_yticks([0, 0.25, 0.5, 0.75, 1], ["0%", "25%", "50%", "75%", "100%"])
    axes.set_ylabel("passed / (passed + failed)")
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def duration_png(records: Sequence[RunRecord]) -> bytes:
    """Plot the agent durations of each tier as a box with its runs on top."""
    tiers = sorted({record.key.tier for record in records})
    figure, axes = _canvas(len(tiers))
    axes.set_title("Agent duration by tier")
    samples = [[record.agent_duration for record in records
                if record.key.tier == tier and record.agent_duration is not None]
               for tier in tiers]
    if not any(samples):
        _say(axes, "no agent duration recorded yet")
        return _png(figure)
    colours = _tier_colours(tiers)
    for position, (tier, values) in enumerate(zip(tiers, samples, strict=True)):
        if values:
            axes.boxplot([values], positions=[position], widths=0.5,
                         showfliers=False)
            offsets = _spread(len(values))
            axes.scatter([position + offset for offset in offsets], values,
                         s=14, alpha=0.7, color=colours[tier], zorder=3)
    axes.set_xticks(range(len(tiers)), tiers)
    axes.set_xlim(-0.6, len(tiers) - 0.4)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("seconds")
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def _rate_point(axes: Axes, position: int, row: GroupSummary, colour: str) -> None:
    """Draw one group: its rate and interval, or a note that it has none."""
    if row.rate is None or row.interval is None:
        axes.annotate("no verdict", (position, 0.02), ha="center", fontsize=8,
                      color="#666666")
        return
    low, high = row.interval
    marker, size = ("s", 8) if row.subtest == ALL else ("o", 6)
    axes.errorbar([position], [row.rate],
                  yerr=[[row.rate - low], [high - row.rate]], fmt=marker,
                  markersize=size, capsize=4, color=colour)
    axes.annotate(f"{row.passed}/{row.judged}", (position, high),
                  textcoords="offset points", xytext=(0, 4), ha="center",
                  fontsize=8)


def _canvas(columns: int) -> tuple[Figure, Axes]:
    width = min(16.0, max(6.0, 0.7 * columns + 2))
    figure = Figure(figsize=(width, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No software or date stamp: the same numbers give the same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _say(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _tier_colours(tiers: Iterable[str]) -> dict[str, str]:
    ordered = sorted(set(tiers))
    return {tier: TIER_COLOURS[index % len(TIER_COLOURS)]
            for index, tier in enumerate(ordered)}


def _spread(count: int) -> list[float]:
    """Return evenly spaced horizontal offsets, so equal values stay visible."""
    if count == 1:
        return [0.0]
    return [-0.15 + 0.3 * index / (count - 1) for index in range(count)]
