"""A build's shared state: signatures per subtest and run paths."""

from __future__ import annotations

from scylla_build.build import open_build
from scylla_build.experiment import load_experiment
from scylla_build.layout import ResultsLayout
from tests.conftest import MakeExperiment


def test_workspace_path_matches_layout(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=2)
    build = open_build(load_experiment(exp.file, cwd=exp.project))
    layout = ResultsLayout(build.experiment.results)
    for key in build.experiment.run_keys():
        assert build.workspace_path(key) == str(layout.run(key).workspace)


def test_subtests_share_one_signature_object(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=3)
    build = open_build(load_experiment(exp.file, cwd=exp.project))
    keys = [key for key in build.experiment.run_keys() if key.subtest == "s01"]
    assert len({id(build.agent_signature(key)) for key in keys}) == 1
