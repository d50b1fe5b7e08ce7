"""A first end-to-end build of a small experiment through doit."""

from __future__ import annotations

import json

from tests.conftest import MakeExperiment


def test_build_records_every_run(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=2)
    done = exp.doit()
    assert done.returncode == 1, done.stderr  # s02 fails with rerun_failed
    checkpoint = json.loads((exp.results / "checkpoint.json").read_text())
    statuses = {f"{t}:{s}:{n}": entry["status"]
                for t, subs in checkpoint["runs"].items()
                for s, runs in subs.items() for n, entry in runs.items()}
    assert statuses == {"T0:s00:1": "passed", "T0:s00:2": "passed",
                        "T1:s01:1": "passed", "T1:s01:2": "passed",
                        "T1:s02:1": "failed", "T1:s02:2": "failed"}
    assert len(exp.calls()) == 12
