"""The doit reporter of experiment builds: it holds the build lock while it runs.

doit creates a reporter only for `doit run`, so taking the lock here leaves
`doit list`, `info` and `forget` free to work beside a running build. It shows
the build's progress by run (progress.py, display.py), and writes the report
at the end of every build that recorded runs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterable
from types import FrameType, TracebackType
from typing import Any, ClassVar

from doit.exceptions import InvalidDodoFile, InvalidTask
from doit.globals import Globals
from doit.reporter import ConsoleReporter

from scylla_build.build import Build, loaded_build
from scylla_build.display import PlainDisplay, make_display
from scylla_build.errors import ScyllaError, debugging
from scylla_build.layout import RunKey
from scylla_build.lock import BuildLock
from scylla_build.process import die_with_parent
from scylla_build.progress import STEPS, Finish, Progress, RunSteps, step_of
from scylla_build.record import FINAL_STATUSES
from scylla_build.refusal import is_refusal
from scylla_build.report import read_stamp, write_report
from scylla_build.uptodate import Freshness, JudgeCheck, RunCheck, WorkspaceCheck
from scylla_build.worktree import Worktrees

log = logging.getLogger(__name__)


def _interrupt(number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {number}")


def interrupt_on_termination() -> None:
    """Make SIGTERM and SIGHUP stop a build the way Ctrl-C does.

    doit forks its `-n` workers after this; each is told to get SIGTERM when
    this process dies, even one that never ran a task, which would otherwise
    wait for work forever once `kill -9` removed the main process.
    """
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _interrupt)
    os.register_at_fork(after_in_child=die_with_parent)
    sys.excepthook = _quiet_interrupt


def _quiet_interrupt(kind: type[BaseException], error: BaseException,
                     trace: TracebackType | None) -> None:
    """Say in one line that the build was interrupted; keep other tracebacks."""
    if issubclass(kind, KeyboardInterrupt) and not debugging():
        why = f" by {error}" if str(error) else ""
        sys.stderr.write(f"scylla: build interrupted{why}; runs in flight were "
                         "not recorded and will be rebuilt next time\n")
        return
    sys.__excepthook__(kind, error, trace)


class ExperimentReporter(ConsoleReporter):  # type: ignore[misc]  # untyped doit
    """doit's console reporter, plus the build lock, progress and closing report.

    As the `scylla` reporter plugin it finds the build of the loaded dodo.py;
    `reporter_for` binds one explicitly.
    """

    desc = "runs done, counts and time left: a live bar on a terminal, else lines"
    bound: ClassVar[Build | None] = None
    live: ClassVar[bool] = True

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        try:
            self.build = self.bound or loaded_build()
        except ScyllaError as err:
            raise InvalidDodoFile(str(err)) from err
        self.lock = BuildLock(self.build.layout.build_lock,
                              self.build.experiment.results)
        self.report_written = False
        self.refusal: str | None = None
        self.progress = Progress({}, set())
        self.display = PlainDisplay(outstream, self.progress,
                                    self.build.experiment.name)

    def write(self, text: str) -> None:
        self.display.write(text)

    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        try:
            self.lock.acquire()
            self.build.refresh_ledger()
            relink_moved_workspaces(self.build)
        except ScyllaError as err:
            self.refusal = str(err)
            if debugging():
                traceback.print_exception(err, file=sys.stderr)
            raise InvalidTask(self.refusal) from err
        interrupt_on_termination()
        super().initialize(tasks, selected_tasks)
        scope = run_scope(tasks, selected_tasks)
        self.progress = Progress(scope, self._stale(tasks, scope))
        self.display = make_display(self.outstream, self.progress,
                                    self.build.experiment.name, live=self.live)
        self.display.start()

    def execute_task(self, task: Any) -> None:
        found = step_of(task.name)
        with self.display.guard():
            if found is not None:
                self.progress.start(*found, time.monotonic())
            self.display.task_started(task.name)
        if self.display.shows_tasks:
            super().execute_task(task)

    def add_success(self, task: Any) -> None:
        if task.name == "report":
            self.report_written = True
        super().add_success(task)
        self._resolve(task.name, "executed")

    def add_failure(self, task: Any, fail: Any) -> None:
        super().add_failure(task, fail)
        said = getattr(fail, "message", "") or type(fail).__name__
        self._resolve(task.name, "failed", f"{task.name}: {said}")

    def skip_uptodate(self, task: Any) -> None:
        self._resolve(task.name, "skipped")

    def skip_ignore(self, task: Any) -> None:
        super().skip_ignore(task)
        self._resolve(task.name, "ignored")

    def runtime_error(self, msg: str) -> None:
        if msg != self.refusal:
            super().runtime_error(msg)

    def complete_run(self) -> None:
        try:
            self.display.stop()
            line = self.progress.up_to_date_line()
            if line:
                self.write(line + "\n")
            super().complete_run()
            if self.refusal:
                sys.stderr.write(f"ERROR: {self.refusal}\n")
            elif self.lock.held:
                self.build.checkpoint.fold()
                self._report_if_skipped()
        except ScyllaError as err:
            sys.stderr.write(f"ERROR: {err}\n")
        finally:
            self.lock.release()

    def _resolve(self, name: str, outcome: str, failure: str | None = None) -> None:
        """Count a task's end; show its run once all of the run's tasks ended."""
        found = step_of(name)
        if found is None:
            return
        step, key = found
        with self.display.guard():
            steps = self.progress.resolve(step, key, outcome=outcome,
                                          failure=failure)
            if steps is None:
                return
            if not steps.ran:
                entry = self.build.checkpoint.entry(key) or {}
                self.progress.skip(key, steps, str(entry.get("status", "done")))
                return
            finish = self._finish(key, steps)
            self.progress.finish(finish)
        self.display.run_finished(finish)

    def _finish(self, key: RunKey, steps: RunSteps) -> Finish:
        """Read what became of a run from its folder (O(1), no checkpoint)."""
        state = _read_state(self.build, key)
        status, reason = state.get("status"), state.get("reason")
        judged = "judge" in steps.begun and status in FINAL_STATUSES
        if any(is_refusal(failure) for failure in steps.failures):
            # Refused before its agent or judge could start (a budget, a long
            # rate-limit pause): not an outcome, and not counted as one.
            status, reason = "not started", state.get("stage") or "refused"
        elif steps.failures and not judged:
            # A step raised before the run reached a verdict: the recorder
            # wrote the error to the checkpoint, not to the run folder.
            status, reason = "error", "tool_error"
        attempt = state.get("attempt")
        seconds = time.monotonic() - (steps.started or time.monotonic())
        return Finish(key, str(status or "unknown"), reason,
                      attempt if isinstance(attempt, int) else None, seconds,
                      workspace_kept="run" in steps.skipped)

    def _stale(self, tasks: dict[str, Any],
               scope: dict[RunKey, set[str]]) -> set[RunKey]:
        """Ask doit's own checks which runs will execute, to size the bar early.

        They share one Freshness, which remembers each run's answer for the
        rest of the process; asked now, before any task ran, it answers as
        it would when doit reaches the run (nothing but the run's own tasks
        changes its answer), and doit's later checks cost nothing more.
        """
        if Globals.dep_manager is None:
            return set(scope)
        freshness = _shared_freshness(tasks) or Freshness(self.build)
        freshness.bind(Globals.dep_manager)
        return {key for key, steps in scope.items()
                if _any_stale(freshness, key, steps)}

    def _report_if_skipped(self) -> None:
        """Write the report if this build recorded runs and did not write it."""
        written = read_stamp(self.build).get("revision")
        if self.report_written or written == self.build.checkpoint.revision():
            return
        try:
            write_report(self.build)
        except Exception as err:  # the runs are recorded; only the report is lost
            if debugging():
                raise
            log.error("could not write the report: %s; `doit report` tries again "
                      "(set SCYLLA_DEBUG=1 for the traceback)", err)


class PlainReporter(ExperimentReporter):
    """The same reporter with plain lines even on a terminal."""

    desc = "runs done, counts and time left, one line per finished run"
    live = False


def relink_moved_workspaces(build: Build) -> None:
    """Re-link worktrees once per build if the results folder moved."""
    Worktrees(build.layout).relink_if_moved()


def reporter_for(build: Build) -> type[ExperimentReporter]:
    """Return the reporter class bound to one build (doit wants a class)."""
    return type("ExperimentReporter", (ExperimentReporter,), {"bound": build})


def run_scope(tasks: dict[str, Any], selected: Iterable[str]) -> dict[RunKey, set[str]]:
    """Return each run this build may touch, with its steps among the tasks.

    A run's steps depend on the steps before them (tasks.py), so a selected
    step brings those; any other task brings what it depends on.
    """
    scope: dict[RunKey, set[str]] = {}
    seen: set[str] = set()
    pending = list(selected)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        found = step_of(name)
        if found is not None:
            step, key = found
            scope.setdefault(key, set()).update(STEPS[:STEPS.index(step) + 1])
        elif name in tasks:
            pending.extend(tasks[name].task_dep)
            pending.extend(tasks[name].setup_tasks)
    return scope


def _shared_freshness(tasks: dict[str, Any]) -> Freshness | None:
    """Return the Freshness behind the run tasks' checks, if there are any."""
    for task in tasks.values():
        for check, _, _ in task.uptodate:
            if isinstance(check, (WorkspaceCheck, RunCheck, JudgeCheck)):
                return check.freshness
    return None


def _any_stale(freshness: Freshness, key: RunKey, steps: set[str]) -> bool:
    checks = {"workspace": freshness.workspace, "run": freshness.run,
              "judge": freshness.judge}
    try:
        return any(checks[step](key) for step in steps)
    except Exception:  # doit's own check will say what went wrong
        return True


def _read_state(build: Build, key: RunKey) -> dict[str, Any]:
    try:
        text = build.spec(key).paths.run_result.read_text(encoding="utf-8")
        state = json.loads(text)
    except (OSError, ValueError, KeyError):
        return {}
    return state if isinstance(state, dict) else {}
