"""Statuses and reasons a run can end with, and what the agent and judge did."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """A run's state in the checkpoint (DESIGN 4)."""

    RUNNING = "running"
    AGENT_COMPLETE = "agent_complete"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


class Reason(str, enum.Enum):
    """Why a run ended the way it did."""

    JUDGED = "judged"
    TIMEOUT = "timeout"
    AGENT_DID_NOT_START = "agent_did_not_start"
    AGENT_KILLED = "agent_killed"
    AGENT_ERROR = "agent_error"
    JUDGE_EXIT_CODE = "judge_exit_code"
    JUDGE_TIMEOUT = "judge_timeout"
    JUDGE_DID_NOT_START = "judge_did_not_start"
    JUDGE_KILLED = "judge_killed"
    JUDGE_RESULT_INVALID = "judge_result_invalid"
    TOOL_ERROR = "tool_error"


@dataclass
class ProcessOutcome:
    """What one agent or judge process did, as plain data."""

    exit_code: int | None
    duration: float
    timed_out: bool = False
    signal: int | None = None
    start_error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    result_error: str | None = None
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form written to result.json."""
        return {
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
            "timed_out": self.timed_out,
            "signal": self.signal,
            "start_error": self.start_error,
            "result_error": self.result_error,
            "output_truncated": self.truncated,
            **self.result,
        }


@dataclass(frozen=True)
class Verdict:
    """The final status of a run and the reason for it."""

    status: Status
    reason: Reason
    detail: str = ""


_BROKEN_REASONS = {
    "agent": (Reason.AGENT_DID_NOT_START, Reason.AGENT_KILLED),
    "judge": (Reason.JUDGE_DID_NOT_START, Reason.JUDGE_KILLED),
}


def _broken(outcome: ProcessOutcome, role: str) -> Verdict | None:
    """Return the error verdict of a process that did not run to a clean exit."""
    did_not_start, killed = _BROKEN_REASONS[role]
    if outcome.start_error is not None:
        return Verdict(Status.ERROR, did_not_start, outcome.start_error)
    if outcome.signal is not None:
        detail = f"{role} killed by signal {outcome.signal}"
        return Verdict(Status.ERROR, killed, detail)
    return None


def agent_failure(outcome: ProcessOutcome) -> Verdict | None:
    """Return the verdict an agent outcome forces before judging, if any.

    A broken agent result file is not among them: the workspace is still
    judged (DESIGN 6 judges even a failing agent), and the problem stays in
    agent/result.json as `result_error`. An agent that flags its own error
    (`is_error`, as agent CLIs report a failed session) is an error.
    """
    if outcome.timed_out:
        return Verdict(Status.FAILED, Reason.TIMEOUT, "agent exceeded its timeout")
    broken = _broken(outcome, "agent")
    if broken is None and outcome.result.get("is_error") is True:
        message = outcome.result.get("error_message")
        detail = message if isinstance(message, str) and message else \
            "the agent reported an error"
        return Verdict(Status.ERROR, Reason.AGENT_ERROR, detail)
    return broken


def judge_verdict(outcome: ProcessOutcome) -> Verdict:
    """Turn a judge's process outcome into the run's verdict (DESIGN 6)."""
    if outcome.timed_out:
        return Verdict(Status.ERROR, Reason.JUDGE_TIMEOUT, "judge exceeded its timeout")
    broken = _broken(outcome, "judge")
    if broken is not None:
        return broken
    if outcome.result_error is not None:
        return Verdict(Status.ERROR, Reason.JUDGE_RESULT_INVALID, outcome.result_error)
    if outcome.exit_code == 0:
        return Verdict(Status.PASSED, Reason.JUDGED)
    if outcome.exit_code == 1:
        return Verdict(Status.FAILED, Reason.JUDGED)
    detail = f"judge exited {outcome.exit_code}; only 0 (passed) and 1 (failed) count"
    return Verdict(Status.ERROR, Reason.JUDGE_EXIT_CODE, detail)
