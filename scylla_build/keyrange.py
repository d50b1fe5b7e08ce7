"""Run keys written compactly, consecutive runs as ranges: `T1:s01:1-3`."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from scylla_build.layout import RunKey


def compact_keys(keys: Iterable[RunKey]) -> list[str]:
    """Return the keys sorted, each run of consecutive numbers as `T:S:A-B`."""
    written = []
    ordered = sorted(set(keys))
    by_subtest = itertools.groupby(ordered, key=lambda key: (key.tier, key.subtest))
    for (tier, subtest), group in by_subtest:
        numbers = [key.number for key in group]
        for low, high in _spans(numbers):
            span = str(low) if low == high else f"{low}-{high}"
            written.append(f"{tier}:{subtest}:{span}")
    return written


def expand_keys(text: str) -> list[RunKey]:
    """Read one `T:S:N` or `T:S:A-B` item back into its keys."""
    tier, subtest, span = text.split(":")
    low, _, high = span.partition("-")
    last = int(high or low)
    return [RunKey(tier, subtest, number) for number in range(int(low), last + 1)]


def _spans(numbers: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for number in numbers:
        if spans and spans[-1][1] == number - 1:
            spans[-1] = (spans[-1][0], number)
        else:
            spans.append((number, number))
    return spans
