"""Re-judging keeps the earlier verdict; scripts the command names are inputs."""

from __future__ import annotations

import json

from tests.conftest import MakeExperiment


def test_rejudge_archives_the_previous_verdict(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="pass")
    assert exp.doit().returncode == 0
    exp.calls()
    judge = exp.directory / "judge.py"
    judge.write_text(judge.read_text() + "\n# stricter now\n")
    done = exp.doit()
    assert done.returncode == 0, done.stdout + done.stderr
    assert exp.calls() == ["judge T0:s00:1", "judge T1:s01:1", "judge T1:s02:1"]
    archived = exp.results / "T0" / "s00" / "run_01" / "attempts" / "1-judge-1"
    assert (archived / "judge" / "stdout.log").exists()
    verdict = json.loads((archived / "run_result.json").read_text())
    assert verdict["status"] == "passed"


def test_unlisted_script_named_by_command_invalidates(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="pass")
    exp.edit('inputs = ["agent.py"]', "inputs = []")
    assert exp.doit().returncode == 0
    exp.calls()
    agent = exp.directory / "agent.py"
    agent.write_text(agent.read_text() + "\n# changed\n")
    assert exp.doit().returncode == 0
    assert [line.split()[0] for line in exp.calls()].count("agent") == 3
