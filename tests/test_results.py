"""`doit results`: the table and JSON match the checkpoint, beside a build."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import DOIT, BuiltExample, MakeExperiment

COLUMNS = ["tier", "subtest", "run", "status", "reason", "attempt", "agent s",
           "cost USD", "tokens in", "tokens out"]


def checkpoint_entries(results: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Return checkpoint.json's entries by (tier, subtest, run)."""
    document = json.loads((results / "checkpoint.json").read_text())
    return {(tier, subtest, int(number)): entry
            for tier, subtests in document["runs"].items()
            for subtest, numbered in subtests.items()
            for number, entry in numbered.items()}


def reported(results: Path, tier: str, subtest: str, run: int) -> dict[str, Any]:
    """Return what the run's agent reported in agent/result.json."""
    path = results / tier / subtest / f"run_{run:02d}" / "agent" / "result.json"
    value: dict[str, Any] = json.loads(path.read_text())
    return value


def assert_rows_match(rows: list[dict[str, Any]], results: Path,
                      expected_keys: set[tuple[str, str, int]]) -> None:
    entries = checkpoint_entries(results)
    assert {(row["tier"], row["subtest"], row["run"]) for row in rows} == (
        expected_keys)
    for row in rows:
        key = (row["tier"], row["subtest"], row["run"])
        entry, usage = entries[key], reported(results, *key)
        assert row["status"] == entry["status"], key
        assert row["reason"] == entry.get("reason"), key
        assert row["attempt"] == entry["attempt"], key
        assert row["agent_duration"] == entry["agent_duration"], key
        for name in ("cost_usd", "input_tokens", "output_tokens"):
            assert row[name] == usage[name], (key, name)


def test_results_table_matches_the_checkpoint(built_example: BuiltExample) -> None:
    done = built_example.doit("results")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["tier", "subtest", "run", "status", "reason",
                                "attempt", "agent", "s", "cost", "USD", "tokens",
                                "in", "tokens", "out"]
    entries = checkpoint_entries(built_example.results)
    shown = {}
    for line in lines[1:-1]:
        tier, subtest, run, status, reason, attempt, agent, cost, t_in, t_out = (
            line.split())
        key = (tier, subtest, int(run))
        usage = reported(built_example.results, *key)
        shown[key] = (status, reason, int(attempt), agent, cost, int(t_in),
                      int(t_out))
        assert shown[key] == (
            entries[key]["status"], entries[key]["reason"], entries[key]["attempt"],
            f"{entries[key]['agent_duration']:.1f}", f"{usage['cost_usd']:.4f}",
            usage["input_tokens"], usage["output_tokens"]), key
    assert set(shown) == set(entries)
    assert lines[-1] == "9 runs: passed 3, failed 6"


def test_results_json_of_failed_runs_matches_the_checkpoint(
        built_example: BuiltExample) -> None:
    done = built_example.doit("results", "--status", "failed", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    failed = {key for key, entry in checkpoint_entries(built_example.results).items()
              if entry["status"] == "failed"}
    assert len(failed) == 6
    assert_rows_match(rows, built_example.results, failed)


def test_results_filters_combine_and_unknown_values_are_named(
        built_example: BuiltExample) -> None:
    done = built_example.doit("results", "--json", "--tier", "T1", "--subtest",
                              "s02,s01", "--status", "passed")
    assert [(row["subtest"], row["run"]) for row in json.loads(done.stdout)] == [
        ("s01", 1), ("s01", 2), ("s01", 3)]
    wrong = built_example.doit("results", "--status", "pased")
    assert wrong.returncode != 0
    assert wrong.stderr.startswith("ERROR: --status pased: not a run status")
    assert "passed" in wrong.stderr and "Traceback" not in wrong.stderr


def test_results_works_while_a_build_holds_the_experiment(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    exp = make_experiment(runs=1, s02_mode="pass")
    release, switch = tmp_path / "release", tmp_path / "switch"
    switch.write_text(f"T1:s02:1 hold:{release}\n")
    env = {"AGENT_SWITCH": str(switch)}
    build = subprocess.Popen([DOIT], cwd=exp.project, text=True,
                             env={**os.environ,
                                  "TEST_CALL_LOG": str(exp.call_log), **env},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "agent T1:s02:1" not in (exp.call_log.read_text()
                                       if exp.call_log.exists() else ""):
            assert time.monotonic() < deadline and build.poll() is None
            time.sleep(0.05)
        refused = exp.doit(env=env)
        assert f"process {build.pid}" in refused.stderr  # the build holds it
        done = exp.doit("results", "--json")
        assert done.returncode == 0, done.stderr
        statuses = {f"{r['tier']}:{r['subtest']}:{r['run']}": r["status"]
                    for r in json.loads(done.stdout)}
        assert statuses == {"T0:s00:1": "passed", "T1:s01:1": "passed",
                            "T1:s02:1": "running"}
    finally:
        release.touch()
        output, _ = build.communicate(timeout=60)
    assert build.returncode == 0, output
    final = json.loads(exp.doit("results", "--json").stdout)
    assert {row["status"] for row in final} == {"passed"}
