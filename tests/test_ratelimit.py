"""Rate limits: recognised from structured facts only, with their reset times."""

from __future__ import annotations

import datetime

import pytest

from scylla_build.ratelimit import (
    Limit,
    RateLimitRule,
    detect,
    reset_time,
    retry_after,
)

RULE = RateLimitRule(exit_codes=(75,), error_pattern="429|quota",
                     reset_field="retry_at")


def test_flag_is_a_limit_with_its_reset() -> None:
    found = detect({"rate_limited": True, "rate_limit_reset": 1700000000}, 1, None)
    assert found == Limit("the command reported a rate limit", 1700000000.0)


def test_declared_exit_code_is_a_limit() -> None:
    found = detect({"retry_at": "2030-01-01T00:00:00Z"}, 75, RULE)
    assert found is not None and found.reset_at == datetime.datetime(
        2030, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    assert detect({}, 75, None) is None


def test_pattern_counts_only_in_a_flagged_error() -> None:
    error = {"is_error": True, "error_message": "HTTP 429 from the API"}
    assert detect(error, 1, RULE) == Limit("HTTP 429 from the API", None)
    answer = {"is_error": False, "error_message": "HTTP 429 from the API"}
    assert detect(answer, 0, RULE) is None


@pytest.mark.parametrize("result", [
    {"answer": "I hit a rate limit earlier, then finished"},
    {"is_error": False, "result": "rate limit", "rate_limited": "yes"},
])
def test_free_text_is_never_a_limit(result: dict[str, object]) -> None:
    assert detect(result, 0, RULE) is None


@pytest.mark.parametrize(("value", "seconds"), [
    (1700000000, 1700000000.0),
    (1700000000500, 1700000000.5),
    ("1700000000", 1700000000.0),
    ("2023-11-14T22:13:20+00:00", 1700000000.0),
    ("2023-11-14T22:13:20", 1700000000.0),
    ("nonsense", None), (True, None), (-5, None), (None, None),
])
def test_reset_time_formats(value: object, seconds: float | None) -> None:
    assert reset_time(value) == seconds


@pytest.mark.parametrize(("message", "seconds"), [
    ("Please retry in 20.5s.", 20.5),
    ("Upgrade, or try again in 2 days 3 hours 1 minute.", 2 * 86400 + 3 * 3600 + 60),
    ("try again at 3:14 PM", None),
    ("no hint here", None),
])
def test_retry_after_reads_relative_waits(message: str,
                                          seconds: float | None) -> None:
    found = retry_after(message, now=1000.0)
    assert found == (None if seconds is None else 1000.0 + seconds)
