"""The doit reporter of experiment builds: it holds the build lock while it runs.

doit creates a reporter only for `doit run`, so taking the lock here leaves
`doit list`, `info` and `forget` free to work beside a running build.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Any

from doit.exceptions import InvalidTask
from doit.reporter import ConsoleReporter

from scylla_build.build import Build
from scylla_build.errors import ScyllaError
from scylla_build.layout import RunKey
from scylla_build.lock import BuildLock

log = logging.getLogger(__name__)


def _interrupt(number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {number}")


def interrupt_on_termination() -> None:
    """Make SIGTERM and SIGHUP stop a build the way Ctrl-C does."""
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _interrupt)


def reporter_for(build: Build) -> type[ConsoleReporter]:
    """Return a reporter class bound to one build's lock and checkpoint."""

    class ExperimentReporter(ConsoleReporter):  # type: ignore[misc]
        def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
            super().__init__(outstream, options)
            self.lock = BuildLock(build.layout.build_lock, build.experiment.results)

        def initialize(self, tasks: Any, selected_tasks: Any) -> None:
            try:
                self.lock.acquire()
                build.checkpoint.fold()
            except ScyllaError as err:
                raise InvalidTask(str(err)) from err
            interrupt_on_termination()
            super().initialize(tasks, selected_tasks)

        def skip_uptodate(self, task: Any) -> None:
            if not task.name.startswith("run:"):
                return
            key = RunKey.parse(task.name.removeprefix("run:"))
            entry = build.checkpoint.entry(key) or {}
            self.write(f"-- {key} {entry.get('status', 'done')}, "
                       "workspace preserved\n")

        def complete_run(self) -> None:
            try:
                super().complete_run()
                if self.lock.held:
                    build.checkpoint.fold()
            finally:
                self.lock.release()
                sys.stdout.flush()

    return ExperimentReporter
