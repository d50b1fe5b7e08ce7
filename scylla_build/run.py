"""One run's specification: everything needed to execute it, as plain data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from scylla_build.command import CommandSpec
from scylla_build.experiment import Experiment
from scylla_build.layout import ResultsLayout, RunKey, RunPaths
from scylla_build.subtest import Subtest


@dataclass(frozen=True)
class RunSpec:
    """A run key with its experiment, subtest and paths."""

    key: RunKey
    experiment: Experiment
    subtest: Subtest

    @cached_property
    def layout(self) -> ResultsLayout:
        return ResultsLayout(self.experiment.results)

    @cached_property
    def paths(self) -> RunPaths:
        return self.layout.run(self.key)

    def placeholders(self) -> dict[str, str]:
        """Return the values of the command placeholders (DESIGN 3)."""
        return {
            "experiment_dir": str(self.experiment.directory),
            "prompt_file": str(self.experiment.prompt),
            "workspace": str(self.paths.workspace),
            "run_dir": str(self.paths.root),
            "tier": self.key.tier,
            "subtest": self.key.subtest,
            "run": str(self.key.number),
        }

    def environment(self, spec: CommandSpec, result_variable: str,
                    result_file: str) -> dict[str, str]:
        """Return doit's environment plus the command's env and SCYLLA_* values."""
        values = self.placeholders()
        return {
            **os.environ,
            **dict(spec.env),
            "SCYLLA_EXPERIMENT_DIR": values["experiment_dir"],
            "SCYLLA_PROMPT_FILE": values["prompt_file"],
            "SCYLLA_WORKSPACE": values["workspace"],
            "SCYLLA_RUN_DIR": values["run_dir"],
            "SCYLLA_TIER": values["tier"],
            "SCYLLA_SUBTEST": values["subtest"],
            "SCYLLA_RUN": values["run"],
            result_variable: result_file,
        }
