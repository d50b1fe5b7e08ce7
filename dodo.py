"""Build an experiment under experiments/: `doit`, or `doit experiment=NAME`."""

from pathlib import Path

from doit import get_var

from scylla_build import experiment_dodo, select_experiment

_FILE = select_experiment(Path(__file__).parent / "experiments", get_var("experiment"))
DOIT_CONFIG, task_experiment = experiment_dodo(_FILE)
