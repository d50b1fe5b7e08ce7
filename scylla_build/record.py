"""A run's record as people read it: its checkpoint entry plus its agent's usage.

The checkpoint holds status, reason, attempt and agent duration; cost and
tokens exist only where the agent wrote them to `$SCYLLA_AGENT_RESULT`, which
the run merged into `agent/result.json`. Reading these takes no lock, so it
works beside a running build.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scylla_build.layout import ResultsLayout, RunKey

NOT_STARTED = "not started"
FINAL_STATUSES = ("passed", "failed", "error")


@dataclass(frozen=True)
class RunRecord:
    """What is known of one run: outcome, attempt, time and usage."""

    key: RunKey
    status: str
    reason: str | None = None
    attempt: int | None = None
    agent_duration: float | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def finished(self) -> bool:
        """Say whether the run reached a verdict or an error."""
        return self.status in FINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        """Return the record as `doit results --json` prints it."""
        return {"tier": self.key.tier, "subtest": self.key.subtest,
                "run": self.key.number, "status": self.status,
                "reason": self.reason, "attempt": self.attempt,
                "agent_duration": self.agent_duration,
                "cost_usd": self.cost_usd, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens}


def read_records(layout: ResultsLayout,
                 runs: Mapping[str, Any]) -> list[RunRecord]:
    """Return a record per run in a checkpoint's `runs`, ordered by key."""
    records = []
    for tier, subtests in runs.items():
        for subtest, numbered in subtests.items():
            for number, entry in numbered.items():
                key = RunKey(tier, subtest, int(number))
                usage = read_usage(layout.run(key).agent_dir / "result.json")
                records.append(_record(key, entry, usage))
    return sorted(records, key=lambda record: record.key)


def with_missing(records: list[RunRecord],
                 expected: Iterable[RunKey]) -> list[RunRecord]:
    """Add a `not started` record for each expected run that has none."""
    known = {record.key for record in records}
    missing = [RunRecord(key, NOT_STARTED) for key in expected if key not in known]
    return sorted(records + missing, key=lambda record: record.key)


def read_usage(path: Path) -> dict[str, float | int]:
    """Return the cost and token counts an agent reported, where valid."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(value, dict):
        return {}
    usage: dict[str, float | int] = {}
    cost = _amount(value.get("cost_usd"))
    if cost is not None:
        usage["cost_usd"] = cost
    for name in ("input_tokens", "output_tokens"):
        count = _amount(value.get(name))
        if count is not None and count == int(count):
            usage[name] = int(count)
    return usage


def _record(key: RunKey, entry: Mapping[str, Any],
            usage: Mapping[str, float | int]) -> RunRecord:
    duration = entry.get("agent_duration")
    attempt = entry.get("attempt")
    tokens_in = usage.get("input_tokens")
    tokens_out = usage.get("output_tokens")
    return RunRecord(
        key, str(entry.get("status", "unknown")), entry.get("reason"),
        attempt if isinstance(attempt, int) else None,
        _number(duration),
        usage.get("cost_usd"),
        int(tokens_in) if tokens_in is not None else None,
        int(tokens_out) if tokens_out is not None else None)


def _number(value: object) -> float | None:
    """Return a JSON number as a float, or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _amount(value: object) -> float | None:
    """Return a finite, non-negative number, or None for anything else."""
    number = _number(value)
    if number is None or not math.isfinite(number) or number < 0:
        return None
    return number
