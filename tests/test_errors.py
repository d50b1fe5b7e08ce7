"""Errors a user meets while loading an experiment: one paragraph, no traceback.

SCYLLA_DEBUG=1 shows the traceback behind each of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from filelock import FileLock

from tests.conftest import MakeExperiment, TestExperiment

DEBUG = {"SCYLLA_DEBUG": "1"}
Spoil = Callable[[TestExperiment], None]


def assert_one_paragraph(stderr: str, *words: str) -> None:
    """Check stderr is a single `ERROR: ...` line naming `words`."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), stderr
    for word in words:
        assert word in lines[0], stderr


def break_toml(exp: TestExperiment) -> None:
    exp.file.write_text(exp.file.read_text() + "runs = [\n")


def corrupt_checkpoint(exp: TestExperiment) -> None:
    exp.results.mkdir(parents=True)
    (exp.results / "checkpoint.json").write_text("{half a ledger")


CASES: dict[str, tuple[Spoil, str]] = {
    "bad-toml": (break_toml, "is not valid TOML"),
    "unknown-key": (lambda exp: exp.edit("[judge]", "[judge]\ntimout = 3"),
                    "did you mean timeout?"),
    "corrupt-checkpoint": (corrupt_checkpoint, "checkpoint.json is not valid JSON"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", [(), ("list", "--status"), ("results",)],
                         ids=["run", "list", "results"])
def test_loading_error_is_one_paragraph(make_experiment: MakeExperiment,
                                        case: str, command: tuple[str, ...]) -> None:
    spoil, words = CASES[case]
    exp = make_experiment(runs=1)
    spoil(exp)
    done = exp.doit(*command)
    assert done.returncode == 3
    assert_one_paragraph(done.stderr, words)
    assert done.stdout == ""
    assert exp.calls() == []


@pytest.mark.parametrize("case", list(CASES))
def test_loading_error_shows_its_traceback_when_debugging(
        make_experiment: MakeExperiment, case: str) -> None:
    exp = make_experiment(runs=1)
    CASES[case][0](exp)
    done = exp.doit(env=DEBUG)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and CASES[case][1] in done.stderr


def test_missing_experiment_is_one_paragraph(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    (exp.project / "dodo.py").write_text(
        "from pathlib import Path\n"
        "from doit import get_var\n"
        "from scylla_build import experiment_dodo, select_experiment\n"
        "FILE = select_experiment(Path('experiments'), get_var('experiment'))\n"
        "DOIT_CONFIG, task_experiment = experiment_dodo(FILE)\n")
    done = exp.doit("experiment=nope")
    assert done.returncode == 3
    assert_one_paragraph(done.stderr, "no such experiment", "NAME one of: demo")
    assert "Traceback" in exp.doit("experiment=nope", env=DEBUG).stderr


@contextmanager
def held_lock(exp: TestExperiment) -> Iterator[None]:
    """Hold the build lock as a running `doit run` of this process would."""
    state = exp.results / ".scylla"
    state.mkdir(parents=True)
    lock = FileLock(state / "build.lock", timeout=0)
    with lock:
        (state / "build.pid").write_text(f"{os.getpid()}\n")
        yield


def test_lock_held_is_one_paragraph_naming_the_holder(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    with held_lock(exp):
        done = exp.doit()
        debugged = exp.doit(env=DEBUG)
    assert done.returncode != 0
    assert_one_paragraph(done.stderr, f"process {os.getpid()}", "wait for it")
    assert done.stdout == ""  # no "Execution aborted" banner
    assert "Traceback" in debugged.stderr
    assert exp.calls() == []
