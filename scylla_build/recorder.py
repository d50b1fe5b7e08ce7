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
from typing import Any, TypeAlias

import git
from doit.exceptions import TaskFailed

from scylla_build import execution
from scylla_build.admission import Admission, Ticket
from scylla_build.attempt import archive_judge, archive_previous
from scylla_build.build import Build
from scylla_build.command import CommandSpec
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
from scylla_build.pause import moment
from scylla_build.process import die_with_parent, read_result
from scylla_build.ratelimit import DEFAULT_BACKOFF, Limit, detect
from scylla_build.refusal import Refusal
from scylla_build.usage import cost, usage_fields

log = logging.getLogger(__name__)
Action = Callable[[], "dict[str, Any] | TaskFailed"]
State = dict[str, Any]
Result: TypeAlias = "dict[str, Any] | TaskFailed"


def now() -> str:
    """Return the current UTC time as ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Recorder:
    """Turn each step's outcome into run records for one build."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.checkpoint = build.checkpoint
        self.main_pid = os.getpid()
        self.admission = Admission(build.layout, build.checkpoint,
                                   build.experiment.limits)

    def action(self, step: str, key: RunKey) -> Action:
        """Return the doit action for one step of one run."""
        method: Callable[[RunKey], Result] = getattr(self, step)

        def act() -> Result:
            if os.getpid() != self.main_pid:
                die_with_parent()
            try:
                return method(key)
            except (ScyllaError, git.GitCommandError, OSError) as err:
                return self._tool_error(key, step, err)
        return act

    def workspace(self, key: RunKey) -> Result:
        """Start a fresh attempt in a new worktree, unless no agent may start."""
        refused = self.admission.refusal()
        if refused is not None:
            return self._refused(key, refused)
        spec = self.build.spec(key)
        state = self._start_attempt(key, archive_previous(spec.paths, None), base=None)
        base = execution.prepare_workspace(spec)
        self._update(key, state, {"base": base, "stage": "workspace_ready"})
        log.debug("%s: attempt %d, workspace ready at %s", key, state["attempt"], base)
        return {"attempt": state["attempt"]}

    def run(self, key: RunKey) -> Result:
        """Run the agent, first resetting a workspace an earlier attempt touched.

        A rate-limited attempt is archived and the agent runs again once the
        pause ends; it is never recorded as failed or error.
        """
        spec = self.build.spec(key)
        state = self._state(key)
        if state.get("stage") != "workspace_ready" or spec.paths.agent_dir.exists():
            state = self._reset_attempt(key, state)
        while True:
            admitted = self.admission.agent(key)
            if isinstance(admitted, Refusal):
                self._update(key, state, _refused_fields(admitted))
                return self._refused(key, admitted)
            outcome = self._call_agent(key, state, admitted)
            limit = _limit(outcome, spec.subtest.agent)
            if limit is None:
                break
            state = self._after_limit(key, state, limit, outcome)
        self.admission.pause.succeeded()
        self._update(key, state, {**_agent_fields(outcome),
                                  **self._spent(key)})
        return {"attempt": state["attempt"]}

    def _reset_attempt(self, key: RunKey, state: State) -> State:
        """Archive the last attempt and reset its workspace for a new one."""
        spec = self.build.spec(key)
        base = self._base(key, state)
        attempt = archive_previous(spec.paths, None)
        execution.reset_workspace(spec, base)
        log.info("%s: attempt %d archived, workspace reset to its base "
                 "for attempt %d", key, attempt - 1, attempt)
        return self._start_attempt(key, attempt, base=base)

    def _call_agent(self, key: RunKey, state: State,
                    ticket: Ticket) -> ProcessOutcome:
        """Run the agent under its ticket; the ledger gets its cost either way."""
        try:
            outcome = execution.run_agent(self.build.spec(key), state["base"])
        except BaseException:
            ticket.finish(state["attempt"], None)
            raise
        ticket.finish(state["attempt"], cost(outcome.result))
        return outcome

    def _after_limit(self, key: RunKey, state: State, limit: Limit,
                     outcome: ProcessOutcome) -> State:
        """Pause the build, archive the limited attempt and start the next one."""
        spec = self.build.spec(key)
        rule = spec.subtest.agent.rate_limit
        until = self.admission.pause.begin(
            limit, str(key), rule.backoff if rule else DEFAULT_BACKOFF)
        limited = {**usage_fields(outcome.result), "stage": "rate_limited",
                   "rate_limited": True, "rate_limit_reason": limit.message,
                   "rate_limit_until": moment(until)}
        execution.write_json(spec.paths.run_result, {**state, **limited})
        attempt = archive_previous(spec.paths, state["attempt"])
        execution.reset_workspace(spec, state["base"])
        log.info("%s: rate-limited attempt %d archived; attempt %d starts when "
                 "the pause ends", key, attempt - 1, attempt)
        fresh = self._start_attempt(key, attempt, base=state["base"])
        self._update(key, fresh, {"stage": "rate_limited",
                                  "rate_limit_until": moment(until)})
        return fresh

    def judge(self, key: RunKey) -> Result:
        """Decide the verdict; fail the task where DESIGN 6 says doit must fail."""
        state = self._state(key)
        if state.get("status") == Status.ERROR:
            return self._task_result(key, state)
        if state.get("stage") == "judged":
            # Judged before (a changed judge, or a forget): keep that verdict.
            archive_judge(self.build.spec(key).paths, state["attempt"])
        judged: ProcessOutcome | None = None
        if state.get("timed_out"):
            verdict = Verdict(Status.FAILED, Reason.TIMEOUT,
                              "agent exceeded its timeout")
        else:
            called = self._call_judge(key, state)
            if isinstance(called, Refusal):
                self._update(key, state, _refused_fields(called))
                return self._refused(key, called)
            judged = called
            verdict = judge_verdict(judged)
        judge = self.build.judge_signature
        self._update(key, state, {
            "status": verdict.status.value, "reason": verdict.reason.value,
            "detail": verdict.detail, "judge_signature": judge.digest,
            "finished_at": now(), "judged": time.time(), "stage": "judged",
            "judge_exit_code": judged.exit_code if judged else None,
            "judge_cost_usd": cost(judged.result) if judged else None,
            "rate_limit_until": None, **self._spent(key)},
            signatures={judge.digest: judge.parts})
        return self._task_result(key, state)

    def _call_judge(self, key: RunKey, state: State) -> ProcessOutcome | Refusal:
        """Run the judge once no pause is on; run it again after a rate limit."""
        spec = self.build.spec(key)
        rule = self.build.experiment.judge.rate_limit
        # Only a judge that calls a model (it declares [judge.rate_limit], or
        # just hit a limit) waits for the pause: a plain script need not.
        calls_model = rule is not None
        while True:
            refused = self.admission.judge(key) if calls_model else None
            if refused is not None:
                return refused
            judged = execution.run_judge(spec)
            spent = cost(judged.result)
            if spent is not None:
                self.admission.ledger.end(key, kind="judge", cost=spent,
                                          attempt=state["attempt"])
            limit = _limit(judged, self.build.experiment.judge)
            if limit is None:
                if calls_model:
                    self.admission.pause.succeeded()
                return judged
            self.admission.pause.begin(limit, f"judge of {key}",
                                       rule.backoff if rule else DEFAULT_BACKOFF)
            archive_judge(spec.paths, state["attempt"])
            calls_model = True

    def _spent(self, key: RunKey) -> dict[str, Any]:
        """Return what every attempt of this run cost so far, when known."""
        spent = self.admission.ledger.spend().runs.get(str(key))
        return {"spend_usd": round(spent, 6)} if spent else {}

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
            "started_at": now(), "started": time.time(), **self._spent(key)}
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

    def _refused(self, key: RunKey, refusal: Refusal) -> TaskFailed:
        """Fail the task of a call that may not start; record no outcome."""
        message = refusal.task_message(key)
        log.info("%s", message)
        return TaskFailed(message)

    def _task_result(self, key: RunKey, state: State) -> Result:
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


def _limit(outcome: ProcessOutcome, command: CommandSpec) -> Limit | None:
    """Return the rate limit a call reported; a call we stopped reports none."""
    if outcome.timed_out or outcome.signal is not None or outcome.start_error:
        return None
    return detect(outcome.result, outcome.exit_code, command.rate_limit)


def _refused_fields(refusal: Refusal) -> dict[str, Any]:
    """Return what a refused run records: still running, at the refusal's stage."""
    fields: dict[str, Any] = {"stage": refusal.kind.value}
    if refusal.until is not None:
        fields["rate_limit_until"] = moment(refusal.until)
    return fields


def _agent_fields(outcome: ProcessOutcome) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": Status.AGENT_COMPLETE.value, "stage": "agent_complete",
        "agent_exit_code": outcome.exit_code, "timed_out": outcome.timed_out,
        "agent_duration": round(outcome.duration, 3),
        "rate_limit_until": None, **usage_fields(outcome.result)}
    forced = agent_failure(outcome)
    if forced is not None and forced.status == Status.ERROR:
        fields.update(status=forced.status.value, reason=forced.reason.value,
                      detail=forced.detail, finished_at=now())
    return fields
