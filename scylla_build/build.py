"""A build: one experiment with its checkpoint and signatures, per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from scylla_build.checkpoint import Checkpoint
from scylla_build.command import signed_inputs
from scylla_build.errors import ScyllaError
from scylla_build.experiment import Experiment
from scylla_build.layout import ResultsLayout, RunKey
from scylla_build.outcome import Status
from scylla_build.run import RunSpec
from scylla_build.signature import (
    FileHashes,
    Signature,
    agent_signature,
    judge_signature,
)
from scylla_build.subtest import Subtest


@dataclass
class Build:
    """What the tasks of one experiment share: signatures computed once each."""

    experiment: Experiment
    checkpoint: Checkpoint
    agent_signatures: dict[str, Signature]
    judge_signature: Signature
    specs: dict[RunKey, RunSpec] = field(default_factory=dict)
    ledger_seen: tuple[int, int, int] | None = None

    @property
    def layout(self) -> ResultsLayout:
        return ResultsLayout(self.experiment.results)

    def spec(self, key: RunKey) -> RunSpec:
        """Return the run spec of a key; raise KeyError if no such run exists.

        Made on first use: a no-op build needs none of them.
        """
        found = self.specs.get(key)
        if found is None:
            if not 1 <= key.number <= self.experiment.runs:
                raise KeyError(key)
            subtest = self.subtests[f"{key.tier}:{key.subtest}"]
            found = self.specs[key] = RunSpec(key, self.experiment, subtest)
        return found

    @cached_property
    def subtests(self) -> dict[str, Subtest]:
        """Return each subtest by its `tier:name`."""
        return {sub.key: sub for sub in self.experiment.subtests}

    def workspace_path(self, key: RunKey) -> str:
        """Return a run's workspace path as text: cheaper than Path on hot paths."""
        return (f"{self.experiment.results}{os.sep}{key.tier}{os.sep}{key.subtest}"
                f"{os.sep}run_{key.number:02d}{os.sep}workspace")

    def agent_signature(self, key: RunKey) -> Signature:
        """Return the current agent signature of a run's subtest."""
        return self.agent_signatures[f"{key.tier}:{key.subtest}"]

    def read_ledger(self) -> None:
        """Read the checkpoint now, so that a corrupt one stops any command."""
        self.ledger_seen = _identity(self.checkpoint.path)
        self.checkpoint.document()

    def refresh_ledger(self) -> None:
        """Fold the journal; reread the ledger if it changed since it was read.

        Called once the build lock is held: another build may have finished
        between loading the experiment and taking the lock.
        """
        self.checkpoint.fold()
        seen = _identity(self.checkpoint.path)
        if seen != self.ledger_seen:
            self.ledger_seen = seen
            self.checkpoint.reread()

    def agent_done(self, status: str | None) -> bool:
        """Say whether a status means the agent's work is final."""
        if status in (Status.AGENT_COMPLETE, Status.PASSED):
            return True
        return status == Status.FAILED and not self.experiment.rerun_failed


# Each build experiment_dodo opened in this process, the latest last: doit's
# command and reporter plugins are classes it creates, so they look here.
_LOADED: list[Build] = []


def remember(build: Build) -> None:
    """Note the build the loaded dodo.py opened, for doit's plugins to find."""
    _LOADED.append(build)


def loaded_build() -> Build:
    """Return the build of the experiment the loaded dodo.py opened."""
    if not _LOADED:
        raise ScyllaError(
            "this dodo.py defines no experiment; scylla-build's commands and "
            "reporters need one that calls scylla_build.experiment_dodo(...), e.g. "
            "DOIT_CONFIG, task_experiment = experiment_dodo('experiment.toml')")
    return _LOADED[-1]


def open_build(experiment: Experiment) -> Build:
    """Compute each subtest's signatures once."""
    hashes = FileHashes()
    source = f"{experiment.source.repo}\0{experiment.source.resolve()}"
    prompt = hashes(experiment.prompt)
    directory = experiment.directory
    signatures = {sub.key: _agent_signature(sub, source, prompt, hashes.inputs(
                      directory, signed_inputs(sub.agent, directory)))
                  for sub in experiment.subtests}
    judge = judge_signature(experiment.judge, hashes.inputs(
        directory, signed_inputs(experiment.judge, directory)))
    layout = ResultsLayout(experiment.results)
    build = Build(experiment, Checkpoint(layout, experiment.name,
                                         experiment.source.resolve()),
                  signatures, judge)
    return build


def _agent_signature(sub: Subtest, source: str, prompt: str,
                     inputs: str) -> Signature:
    return agent_signature(source=source, prompt=prompt, overlay=sub.overlay,
                           agent=sub.agent, inputs=inputs)


def _identity(path: Path) -> tuple[int, int, int]:
    """Tell one version of a file from another: a replaced file gets a new inode."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return (0, 0, 0)
    return (found.st_ino, found.st_size, found.st_mtime_ns)
