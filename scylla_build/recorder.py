"""Recording runs: the doit actions that execute each step and write the checkpoint.

Each action returns a small plain dict (doit saves it as the task's values)
or a TaskFailed, which makes `doit run` exit non-zero (DESIGN 6).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

import git
from doit.exceptions import TaskFailed

from scylla_build import execution
from scylla_build.attempt import archive_previous
from scylla_build.build import Build
from scylla_build.checkpoint import Entry
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

log = logging.getLogger(__name__)
Action = Callable[[], "dict[str, Any] | TaskFailed"]


def now() -> str:
    """Return the current UTC time as ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Recorder:
    """Turn each step's outcome into checkpoint entries for one build."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.checkpoint = build.checkpoint

    def action(self, step: str, key: RunKey) -> Action:
        """Return the doit action for one step of one run."""
        method = {"workspace": self.workspace, "run": self.run,
                  "judge": self.judge}[step]

        def act() -> dict[str, Any] | TaskFailed:
            try:
                return method(key)
            except (ScyllaError, git.GitCommandError, OSError) as err:
                return self._tool_error(key, step, err)
        return act

    def workspace(self, key: RunKey) -> dict[str, Any]:
        """Start a fresh attempt in a new worktree."""
        spec = self.build.spec(key)
        entry = self.checkpoint.fresh_entry(key)
        attempt = archive_previous(spec.paths, _attempt(entry))
        self._start_attempt(key, attempt, replace=True)
        base = execution.prepare_workspace(spec)
        self.checkpoint.record(key, {"base": base, "stage": "workspace_ready"})
        log.info("%s: attempt %d, workspace ready at %s", key, attempt, base[:12])
        return {"attempt": attempt}

    def run(self, key: RunKey) -> dict[str, Any]:
        """Run the agent, resetting a workspace an earlier attempt touched."""
        spec = self.build.spec(key)
        entry = self.checkpoint.fresh_entry(key) or {}
        if entry.get("stage") != "workspace_ready":
            if not entry.get("base"):
                raise ScyllaError(f"{key}: the checkpoint holds no base commit for "
                                  "this workspace; delete the workspace folder "
                                  "to rebuild the run")
            attempt = archive_previous(spec.paths, _attempt(entry))
            execution.reset_workspace(spec, entry["base"])
            entry = self._start_attempt(key, attempt, replace=False)
            log.info("%s: workspace reset to its base for attempt %d", key, attempt)
        self.checkpoint.record(key, {"stage": "agent"})
        outcome = execution.run_agent(spec, entry["base"])
        self.checkpoint.record(key, self._agent_fields(outcome))
        return {"attempt": entry["attempt"]}

    def judge(self, key: RunKey) -> dict[str, Any] | TaskFailed:
        """Decide the verdict; fail the task where DESIGN 6 says doit must fail."""
        entry = self.checkpoint.fresh_entry(key) or {}
        if entry.get("status") == Status.ERROR:
            return TaskFailed(f"{key}: error, {entry.get('detail')}")
        if entry.get("timed_out"):
            verdict = Verdict(Status.FAILED, Reason.TIMEOUT,
                              "agent exceeded its timeout")
            judged: ProcessOutcome | None = None
        else:
            judged = execution.run_judge(self.build.spec(key))
            verdict = judge_verdict(judged)
        entry = self._record_verdict(key, verdict, judged)
        return self._task_result(key, entry)

    def _start_attempt(self, key: RunKey, attempt: int, *, replace: bool) -> Entry:
        signature = self.build.agent_signature(key)
        fields = {"status": Status.RUNNING.value, "attempt": attempt,
                  "agent_signature": signature.digest, "started_at": now(),
                  "stage": "workspace_ready",
                  "commit": self.build.experiment.source.sha}
        if not replace:
            for stale in ("reason", "detail", "judge_signature", "finished_at",
                          "timed_out", "agent_exit_code", "agent_duration"):
                fields[stale] = None
        return self.checkpoint.record(key, fields, replace=replace,
                                      signatures={signature.digest: signature.parts})

    def _agent_fields(self, outcome: ProcessOutcome) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "status": Status.AGENT_COMPLETE.value, "stage": "agent_complete",
            "agent_exit_code": outcome.exit_code, "timed_out": outcome.timed_out,
            "agent_duration": round(outcome.duration, 3)}
        forced = agent_failure(outcome)
        if forced is not None and forced.status == Status.ERROR:
            fields.update(status=forced.status.value, reason=forced.reason.value,
                          detail=forced.detail, finished_at=now())
        return fields

    def _record_verdict(self, key: RunKey, verdict: Verdict,
                        judged: ProcessOutcome | None) -> Entry:
        judge = self.build.judge_signature
        fields = {"status": verdict.status.value, "reason": verdict.reason.value,
                  "detail": verdict.detail, "judge_signature": judge.digest,
                  "finished_at": now(), "stage": "judged"}
        entry = self.checkpoint.record(key, fields,
                                       signatures={judge.digest: judge.parts})
        execution.write_json(self.build.spec(key).paths.run_result, {
            "run": str(key), **{k: v for k, v in entry.items() if v is not None},
            "judge": judged.to_dict() if judged else None})
        return entry

    def _task_result(self, key: RunKey, entry: Entry) -> dict[str, Any] | TaskFailed:
        status = entry["status"]
        rerun = self.build.experiment.rerun_failed
        if status == Status.ERROR or (status == Status.FAILED and rerun):
            detail = f": {entry['detail']}" if entry.get("detail") else ""
            return TaskFailed(f"{key}: {status}, {entry.get('reason')}{detail}")
        log.info("%s: %s", key, status)
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


def _attempt(entry: Entry | None) -> int | None:
    if entry is None:
        return None
    attempt = entry.get("attempt")
    return attempt if isinstance(attempt, int) else None
