"""Rate limits: the rule that recognises one in a command's result, and its reset.

A limit is read from structured facts only: the `rate_limited` flag of a
result, an exit status the experiment declares, or an error the command
flags itself (`is_error`) whose message matches the declared pattern. The
text of an answer that is not flagged as an error never counts, so an agent
that writes "rate limit" in a normal answer is not limited.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from typing import Any

from scylla_build.schema import Table

DEFAULT_BACKOFF = 60.0
RESET_FIELD = "rate_limit_reset"
# Epoch values above this are milliseconds, not seconds (year 33658 in seconds).
_MILLISECONDS = 1e12
_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(d|days?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?)\b",
    re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_RETRY_PHRASE = re.compile(r"(?:try again|retry)\s+(?:in|after)\s+(.*)",
                           re.IGNORECASE)


@dataclass(frozen=True)
class RateLimitRule:
    """How a command says it was rate limited, beyond the `rate_limited` flag."""

    exit_codes: tuple[int, ...] = ()
    error_pattern: str | None = None
    reset_field: str = RESET_FIELD
    backoff: float = DEFAULT_BACKOFF


@dataclass(frozen=True)
class Limit:
    """One rate limit a command hit: what it said and when it lifts, if known."""

    message: str
    reset_at: float | None


def read_rule(table: Table | None) -> RateLimitRule | None:
    """Read an `[agent.rate_limit]` or `[judge.rate_limit]` table."""
    if table is None:
        return None
    codes = table.int_list("exit_codes", example="[75]")
    pattern = table.string("error_pattern", None, example='"429|quota"')
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as err:
            table.fail("error_pattern", f"is not a valid regular expression "
                       f"({err}), found {pattern!r}",
                       'write a Python regular expression, e.g. "429|quota"')
    reset_field = table.string("reset_field", RESET_FIELD, example='"retry_at"')
    backoff = table.seconds("backoff", DEFAULT_BACKOFF)
    table.finish()
    return RateLimitRule(tuple(codes), pattern, reset_field, backoff)


def detect(result: dict[str, Any], exit_code: int | None,
           rule: RateLimitRule | None) -> Limit | None:
    """Return the limit a finished command reported, or None."""
    rule = rule or RateLimitRule()
    written = result.get("error_message")
    message = written if isinstance(written, str) else ""
    if result.get("rate_limited") is True:
        said = message or "the command reported a rate limit"
    elif exit_code is not None and exit_code in rule.exit_codes:
        said = message or f"exit status {exit_code} declares a rate limit"
    elif (rule.error_pattern and result.get("is_error") is True
          and re.search(rule.error_pattern, message)):
        said = message
    else:
        return None
    return Limit(said, reset_time(result.get(rule.reset_field)))


def reset_time(value: object, *, now: float | None = None) -> float | None:
    """Read a reset time: epoch seconds or milliseconds, or ISO 8601 text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value) / 1000 if value > _MILLISECONDS else float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return reset_time(float(text))
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return retry_after(text, now=now)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def retry_after(message: str, *, now: float | None = None) -> float | None:
    """Read "try again in 2h 5m" or "retry in 20.5s" from an error message."""
    phrase = _RETRY_PHRASE.search(message)
    if phrase is None:
        return None
    total = 0.0
    for amount, unit in _DURATION.findall(phrase.group(1)):
        total += float(amount) * _UNIT_SECONDS[unit[0].lower()]
    if total <= 0:
        return None
    start = now if now is not None else datetime.datetime.now(
        datetime.timezone.utc).timestamp()
    return start + total
