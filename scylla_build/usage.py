"""Usage: what one agent or judge call cost, in the fields result.json reports.

Every preset writes these fields into `agent/result.json`, and a bare command
may write them to `$SCYLLA_AGENT_RESULT`. Tokens are counted the same way for
every CLI: `input_tokens` is every prompt token the model read, cached ones
included; `cached_tokens` is the part of it read from a prompt cache;
`output_tokens` is every generated token, reasoning included. `cost_usd` is
present only where the CLI reports a price; nothing here invents one.
"""

from __future__ import annotations

import math
from typing import Any

COST = "cost_usd"
COUNTS = ("input_tokens", "output_tokens", "cached_tokens", "turns")
FIELDS = (COST, *COUNTS)


def number(value: object) -> float | None:
    """Return a finite, non-negative number, or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def count(value: object) -> int | None:
    """Return a non-negative whole number, or None for anything else."""
    found = number(value)
    return int(found) if found is not None and found == int(found) else None


def total(*values: object) -> int | None:
    """Add up counts; None when none of them is a count."""
    counted = [found for found in map(count, values) if found is not None]
    return sum(counted) if counted else None


def cost(result: dict[str, Any]) -> float | None:
    """Return the cost in USD a result reports, or None."""
    return number(result.get(COST))


def usage_fields(result: dict[str, Any]) -> dict[str, Any]:
    """Pick the well-formed usage fields of a result, for run records."""
    fields: dict[str, Any] = {}
    reported = cost(result)
    if reported is not None:
        fields[COST] = reported
    for name in COUNTS:
        found = count(result.get(name))
        if found is not None:
            fields[name] = found
    return fields
