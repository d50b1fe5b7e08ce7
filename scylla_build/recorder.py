"""Recording runs: the doit actions that execute each step and record it.

Each step keeps its run's state in the run folder (`run_result.json`, read and
written in O(1)) and appends the same facts to the checkpoint journal. Nothing
here reads the whole checkpoint: only the main process does, once, to decide
what is up to date. Each action returns a small plain dict (doit saves it as
the task's values) or a TaskFailed, which makes `doit run` exit non-zero
(DESIGN 6).
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import git
from doit.exceptions import TaskFailed

from scylla_build import execution
from scylla_build.attempt import archive_previous
from scylla_build.build import Build
from scylla_build.errors import ScyllaError
from scylla_build.layout import RunKey
from scylla_build.outcome import (
    ProcessOutcome,
    Reason,
    Status,
    Verdict,
    agent_failure,
    judge_verdict,
)
from scylla_build.process import die_with_parent, read_result

log = logging.getLogger(__name__)
Action = Callable[[], "dict[str, Any] | TaskFailed"]
State = dict[str, Any]


def now() -> str:
    """Return the current UTC time as ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Recorder:
    """Turn each step's outcome into run records for one build."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.checkpoint = build.checkpoint
        self.main_pid = os.getpid()

    def action(self, step: str, key: RunKey) -> Action:
        """Return the doit action for one step of one run."""
        method = {"workspace": self.workspace, "run": self.run,
                  "judge": self.judge}[step]

        def act() -> dict[str, Any] | TaskFailed:
            if os.getpid() != self.main_pid:
                die_with_parent()
            try:
                return method(key)
            except (ScyllaError, git.GitCommandError, OSError) as err:
                return self._tool_error(key, step, err)
        return act

    def workspace(self, key: RunKey) -> dict[str, Any]:
        """Start a fresh attempt in a new worktree."""
        spec = self.build.spec(key)
        state = self._start_attempt(key, archive_previous(spec.paths, None), base=None)
        base = execution.prepare_workspace(spec)
        self._update(key, state, {"base": base, "stage": "workspace_ready"})
        log.debug("%s: attempt %d, workspace ready at %s", key, state["attempt"], base)
        return {"attempt": state["attempt"]}

    def run(self, key: RunKey) -> dict[str, Any]:
        """Run the agent, first resetting a workspace an earlier attempt touched."""
        spec = self.build.spec(key)
        state = self._state(key)
        if state.get("stage") != "workspace_ready" or spec.paths.agent_dir.exists():
            base = self._base(key, state)
            attempt = archive_previous(spec.paths, None)
            execution.reset_workspace(spec, base)
            state = self._start_attempt(key, attempt, base=base)
            log.info("%s: attempt %d archived, workspace reset to its base "
                     "for attempt %d", key, attempt - 1, attempt)
        outcome = execution.run_agent(spec, state["base"])
        self._update(key, state, _agent_fields(outcome))
        return {"attempt": state["attempt"]}

    def judge(self, key: RunKey) -> dict[str, Any] | TaskFailed:
        """Decide the verdict; fail the task where DESIGN 6 says doit must fail."""
        state = self._state(key)
        if state.get("status") == Status.ERROR:
            return self._task_result(key, state)
        judged: ProcessOutcome | None = None
        if state.get("timed_out"):
            verdict = Verdict(Status.FAILED, Reason.TIMEOUT,
                              "agent exceeded its timeout")
        else:
            judged = execution.run_judge(self.build.spec(key))
            verdict = judge_verdict(judged)
        judge = self.build.judge_signature
        self._update(key, state, {
            "status": verdict.status.value, "reason": verdict.reason.value,
            "detail": verdict.detail, "judge_signature": judge.digest,
            "finished_at": now(), "judged": time.time(), "stage": "judged",
            "judge_exit_code": judged.exit_code if judged else None},
            signatures={judge.digest: judge.parts})
        return self._task_result(key, state)

    def _state(self, key: RunKey) -> State:
        state, problem = read_result(self.build.spec(key).paths.run_result)
        if problem is not None:
            raise ScyllaError(f"{key}: {problem}")
        return state

    def _base(self, key: RunKey, state: State) -> str:
        """Return the workspace's base commit, from the run folder or the ledger."""
        base = state.get("base") or (self.checkpoint.entry(key) or {}).get("base")
        if not isinstance(base, str) or not base:
            raise ScyllaError(f"{key}: no base commit is recorded for this "
                              "workspace; delete the workspace folder to rebuild "
                              "the run")
        return base

    def _start_attempt(self, key: RunKey, attempt: int, *, base: str | None) -> State:
        signature = self.build.agent_signature(key)
        state: State = {
            "run": str(key), "status": Status.RUNNING.value, "attempt": attempt,
            "stage": "workspace_ready" if base else "workspace", "base": base,
            "commit": self.build.experiment.source.resolve(),
            "agent_signature": signature.digest,
            "started_at": now(), "started": time.time()}
        execution.write_json(self.build.spec(key).paths.run_result, state)
        self.checkpoint.record(key, state, replace=True,
                               signatures={signature.digest: signature.parts})
        return state

    def _update(self, key: RunKey, state: State, fields: dict[str, Any], *,
                signatures: dict[str, dict[str, str]] | None = None) -> None:
        """Change the run's state in its folder and in the checkpoint."""
        state.update(fields)
        execution.write_json(self.build.spec(key).paths.run_result,
                             {k: v for k, v in state.items() if v is not None})
        self.checkpoint.record(key, fields, signatures=signatures)

    def _task_result(self, key: RunKey, state: State) -> dict[str, Any] | TaskFailed:
        """Return the verdict as the judge's values, or fail where DESIGN 6 says."""
        status = state.get("status")
        detail = state.get("detail")
        said = f"{status} ({state.get('reason')}: {detail})" if detail else status
        rerun = self.build.experiment.rerun_failed
        if status == Status.ERROR or (status == Status.FAILED and rerun):
            return TaskFailed(f"{key}: {said}")
        log.info("%s: %s", key, said)
        return {"status": status}

    def _tool_error(self, key: RunKey, step: str, err: Exception) -> TaskFailed:
        detail = f"{step} step failed: {err}"
        log.error("%s: %s", key, detail)
        try:
            self.checkpoint.record(key, {"status": Status.ERROR.value,
                                         "reason": Reason.TOOL_ERROR.value,
                                         "detail": detail, "finished_at": now()})
        except (ScyllaError, OSError) as record_err:
            log.error("%s: could not record the error: %s", key, record_err)
        return TaskFailed(f"{key}: error, {detail}")


def _agent_fields(outcome: ProcessOutcome) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": Status.AGENT_COMPLETE.value, "stage": "agent_complete",
        "agent_exit_code": outcome.exit_code, "timed_out": outcome.timed_out,
        "agent_duration": round(outcome.duration, 3)}
    forced = agent_failure(outcome)
    if forced is not None and forced.status == Status.ERROR:
        fields.update(status=forced.status.value, reason=forced.reason.value,
                      detail=forced.detail, finished_at=now())
    return fields
