"""A build: one experiment with its checkpoint and signatures, per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from scylla_build.checkpoint import Checkpoint
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

    @property
    def layout(self) -> ResultsLayout:
        return ResultsLayout(self.experiment.results)

    def spec(self, key: RunKey) -> RunSpec:
        """Return the run spec of a key."""
        return self.specs[key]

    def agent_signature(self, key: RunKey) -> Signature:
        """Return the current agent signature of a run's subtest."""
        return self.agent_signatures[f"{key.tier}:{key.subtest}"]

    def agent_done(self, status: str | None) -> bool:
        """Say whether a status means the agent's work is final."""
        if status in (Status.AGENT_COMPLETE, Status.PASSED):
            return True
        return status == Status.FAILED and not self.experiment.rerun_failed


def open_build(experiment: Experiment) -> Build:
    """Compute each subtest's signatures once and index the runs."""
    hashes = FileHashes()
    source = f"{experiment.source.repo}\0{experiment.source.resolve()}"
    prompt = hashes(experiment.prompt)
    agent_inputs = hashes.inputs(experiment.directory, experiment.agent.inputs)
    signatures = {sub.key: _agent_signature(sub, source, prompt, agent_inputs)
                  for sub in experiment.subtests}
    judge = judge_signature(experiment.judge, hashes.inputs(
        experiment.directory, experiment.judge.inputs))
    layout = ResultsLayout(experiment.results)
    build = Build(experiment, Checkpoint(layout, experiment.name,
                                         experiment.source.resolve()),
                  signatures, judge)
    by_key = {sub.key: sub for sub in experiment.subtests}
    for key in experiment.run_keys():
        build.specs[key] = RunSpec(key, experiment, by_key[f"{key.tier}:{key.subtest}"])
    return build


def _agent_signature(sub: Subtest, source: str, prompt: str,
                     inputs: str) -> Signature:
    return agent_signature(source=source, prompt=prompt, overlay=sub.overlay,
                           agent=sub.agent, inputs=inputs)
