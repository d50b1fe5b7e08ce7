"""The doit tasks of an experiment: workspace, run and judge per run key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scylla_build.build import Build
from scylla_build.recorder import Recorder
from scylla_build.report import report_task
from scylla_build.uptodate import Freshness, JudgeCheck, RunCheck, WorkspaceCheck

TaskDict = dict[str, Any]


def default_tasks(build: Build) -> list[str]:
    """Name what a bare `doit` builds: every run's tasks, not the report.

    The reporter writes the report after every build instead: as a task it
    would depend on every judge, and doit skips the dependants of a failed
    task, so a single failed run would leave the report unwritten.
    """
    return [f"{step}:{key}" for key in build.experiment.run_keys()
            for step in ("workspace", "run", "judge")]


def generate_tasks(build: Build) -> Iterator[TaskDict]:
    """Yield three top-level tasks per run (doit forbids a task named `run`)."""
    freshness = Freshness(build)
    recorder = Recorder(build)
    for key in build.experiment.run_keys():
        name = str(key)
        yield {"basename": f"workspace:{name}",
               "doc": f"create the worktree of {name} and lay its overlay",
               "actions": [recorder.action("workspace", key)],
               "uptodate": [WorkspaceCheck(freshness, key)],
               "verbosity": 0}
        yield {"basename": f"run:{name}",
               "doc": f"run the agent of {name}",
               "actions": [recorder.action("run", key)],
               "task_dep": [f"workspace:{name}"],
               "uptodate": [RunCheck(freshness, key)],
               "verbosity": 0}
        yield {"basename": f"judge:{name}",
               "doc": f"judge the workspace of {name}",
               "actions": [recorder.action("judge", key)],
               "task_dep": [f"run:{name}"],
               "uptodate": [JudgeCheck(freshness, key)],
               "verbosity": 0}
    yield report_task(build)
