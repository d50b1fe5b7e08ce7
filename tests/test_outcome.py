"""Mapping what the agent and judge did to a run's verdict (DESIGN 6)."""

from __future__ import annotations

import pytest

from scylla_build.outcome import (
    ProcessOutcome,
    Reason,
    Status,
    Verdict,
    agent_failure,
    judge_verdict,
)


def exited(code: int | None, *, timed_out: bool = False, signal: int | None = None,
           start_error: str | None = None,
           result_error: str | None = None) -> ProcessOutcome:
    return ProcessOutcome(code, 1.0, timed_out=timed_out, signal=signal,
                          start_error=start_error, result_error=result_error)


@pytest.mark.parametrize(("outcome", "status", "reason"), [
    (exited(0), Status.PASSED, Reason.JUDGED),
    (exited(1), Status.FAILED, Reason.JUDGED),
    (exited(2), Status.ERROR, Reason.JUDGE_EXIT_CODE),
    (exited(3), Status.ERROR, Reason.JUDGE_EXIT_CODE),
    (exited(-1), Status.ERROR, Reason.JUDGE_EXIT_CODE),
    (exited(-15, timed_out=True), Status.ERROR, Reason.JUDGE_TIMEOUT),
    (exited(None, start_error="judge: No such file"), Status.ERROR,
     Reason.JUDGE_DID_NOT_START),
    (exited(-9, signal=9), Status.ERROR, Reason.JUDGE_KILLED),
    (exited(0, result_error="reported.json is not valid JSON"), Status.ERROR,
     Reason.JUDGE_RESULT_INVALID),
    (exited(1, result_error="reported.json must hold a JSON object"),
     Status.ERROR, Reason.JUDGE_RESULT_INVALID),
], ids=["exit0", "exit1", "exit2", "exit3", "exit-1", "timeout", "no-start",
        "signal", "bad-result-passed", "bad-result-failed"])
def test_judge_verdict_maps_outcome(outcome: ProcessOutcome, status: Status,
                                    reason: Reason) -> None:
    verdict = judge_verdict(outcome)
    assert (verdict.status, verdict.reason) == (status, reason)


def test_judge_verdict_explains_an_odd_exit_code() -> None:
    assert "judge exited 3" in judge_verdict(exited(3)).detail


@pytest.mark.parametrize("code", [0, 1, 2, 127])
def test_agent_exit_code_is_still_judged(code: int) -> None:
    assert agent_failure(exited(code)) is None


def test_agent_timeout_is_failed_timeout() -> None:
    verdict = agent_failure(exited(-15, timed_out=True))
    assert verdict == Verdict(Status.FAILED, Reason.TIMEOUT,
                              "agent exceeded its timeout")


def test_agent_timeout_wins_over_its_signal() -> None:
    verdict = agent_failure(exited(-9, timed_out=True, signal=9))
    assert verdict is not None and verdict.status == Status.FAILED


@pytest.mark.parametrize(("outcome", "reason"), [
    (exited(None, start_error="agent: No such file or directory"),
     Reason.AGENT_DID_NOT_START),
    (exited(-11, signal=11), Reason.AGENT_KILLED),
])
def test_agent_broken_is_error(outcome: ProcessOutcome, reason: Reason) -> None:
    verdict = agent_failure(outcome)
    assert verdict is not None
    assert (verdict.status, verdict.reason) == (Status.ERROR, reason)


def test_agent_invalid_result_file_is_still_judged() -> None:
    outcome = exited(0, result_error="reported.json is not valid JSON")
    assert agent_failure(outcome) is None
    assert outcome.to_dict()["result_error"] == "reported.json is not valid JSON"


def test_agent_killed_detail_names_signal() -> None:
    verdict = agent_failure(exited(-11, signal=11))
    assert verdict is not None and "signal 11" in verdict.detail


def test_process_outcome_to_dict_merges_reported_result() -> None:
    outcome = ProcessOutcome(0, 1.23456, result={"cost_usd": 0.5, "score": 1})
    record = outcome.to_dict()
    assert record["exit_code"] == 0
    assert record["duration"] == 1.235
    assert record["timed_out"] is False
    assert (record["cost_usd"], record["score"]) == (0.5, 1)


def test_status_values_match_checkpoint_words() -> None:
    assert [status.value for status in Status] == [
        "running", "agent_complete", "passed", "failed", "error"]


def test_agent_failure_is_error_when_the_agent_flags_one() -> None:
    outcome = exited(1)
    outcome.result = {"is_error": True, "error_message": "invalid x-api-key"}
    assert agent_failure(outcome) == Verdict(Status.ERROR, Reason.AGENT_ERROR,
                                             "invalid x-api-key")
    outcome.result = {"is_error": False, "error_message": "ignored"}
    assert agent_failure(outcome) is None
