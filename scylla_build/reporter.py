"""The doit reporter of experiment builds: it holds the build lock while it runs.

doit creates a reporter only for `doit run`, so taking the lock here leaves
`doit list`, `info` and `forget` free to work beside a running build.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType, TracebackType
from typing import Any, ClassVar

from doit.exceptions import InvalidTask
from doit.reporter import ConsoleReporter

from scylla_build.build import Build
from scylla_build.errors import ScyllaError
from scylla_build.layout import RunKey
from scylla_build.lock import BuildLock
from scylla_build.process import die_with_parent
from scylla_build.report import read_stamp, write_report
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
    if issubclass(kind, KeyboardInterrupt) and not os.environ.get("SCYLLA_DEBUG"):
        why = f" by {error}" if str(error) else ""
        sys.stderr.write(f"scylla: build interrupted{why}; runs in flight were "
                         "not recorded and will be rebuilt next time\n")
        return
    sys.__excepthook__(kind, error, trace)


class ExperimentReporter(ConsoleReporter):  # type: ignore[misc]  # untyped doit
    """doit's console reporter, plus the build lock and the closing report."""

    build: ClassVar[Build]

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.lock = BuildLock(self.build.layout.build_lock,
                              self.build.experiment.results)
        self.report_written = False

    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        try:
            self.lock.acquire()
            self.build.checkpoint.fold()
            relink_moved_workspaces(self.build)
        except ScyllaError as err:
            raise InvalidTask(str(err)) from err
        interrupt_on_termination()
        super().initialize(tasks, selected_tasks)

    def skip_uptodate(self, task: Any) -> None:
        if not task.name.startswith("run:"):
            return
        key = RunKey.parse(task.name.removeprefix("run:"))
        entry = self.build.checkpoint.entry(key) or {}
        self.write(f"-- {key} {entry.get('status', 'done')}, workspace preserved\n")

    def add_success(self, task: Any) -> None:
        if task.name == "report":
            self.report_written = True
        super().add_success(task)

    def complete_run(self) -> None:
        try:
            super().complete_run()
            if self.lock.held:
                self.build.checkpoint.fold()
                self._report_if_skipped()
        finally:
            self.lock.release()

    def _report_if_skipped(self) -> None:
        """Write the report if this build recorded runs and did not write it."""
        written = read_stamp(self.build).get("revision")
        if not self.report_written and written != self.build.checkpoint.revision():
            write_report(self.build)


def relink_moved_workspaces(build: Build) -> None:
    """Re-link worktrees once per build if the results folder moved."""
    cache = build.layout.source_cache
    if (cache / "worktrees").is_dir():
        Worktrees(cache, build.layout.git_lock).relink_if_moved(
            build.layout.root, build.layout.workspaces)


def reporter_for(build: Build) -> type[ExperimentReporter]:
    """Return the reporter class bound to one build (doit wants a class)."""
    return type("ExperimentReporter", (ExperimentReporter,), {"build": build})
