"""Durability and concurrency of builds, end to end (DESIGN 7).

Real doit processes are killed, interrupted and raced against each other;
afterwards the checkpoint, the worktrees and the call log of agents and judges
must show that nothing recorded was lost or done twice.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from scylla_build.checkpoint import Checkpoint
from scylla_build.layout import ResultsLayout
from scylla_build.process import OUTPUT_LIMIT_BYTES
from tests.conftest import (
    DOIT,
    MakeExperiment,
    TestExperiment,
    executed_tasks,
    listed_status,
    registered_worktrees,
)
from tests.proctree import descendants, is_alive, kill_tree

# The full matrix (30 trials) is opt-in; the default keeps the suite short.
KILL_TRIALS = int(os.environ.get("SCYLLA_KILL_TRIALS", "8"))
KILL_SEED = 20240607
SLEEPVAR = "sleepvar:0.2:1.0"
KILLER = Path(__file__).with_name("proctree.py")
SUBTESTS = ("T0:s00", "T1:s01", "T1:s02")
VERDICTS = ("passed", "failed")


def run_keys(runs: int, subtests: tuple[str, ...] = SUBTESTS) -> set[str]:
    """Return the keys T:S:N of the experiment `make_experiment` writes."""
    return {f"{sub}:{n}" for sub in subtests for n in range(1, runs + 1)}


def start(exp: TestExperiment, *args: str,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start doit as a user would, without waiting for it."""
    full_env = {**os.environ, "TEST_CALL_LOG": str(exp.call_log), **(env or {})}
    return subprocess.Popen([DOIT, *args], cwd=exp.project, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for(condition: Callable[[], bool], what: str,
             timeout: float = 60) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def logged(exp: TestExperiment) -> list[str]:
    """Return the call log so far without consuming it."""
    try:
        return exp.call_log.read_text().splitlines()
    except FileNotFoundError:
        return []


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"checkpoint.json repeats keys {repeated}"
    return dict(pairs)


def read_checkpoint_file(exp: TestExperiment) -> dict[str, Any] | None:
    """Parse checkpoint.json strictly (no repeated keys); None if absent."""
    path = exp.results / "checkpoint.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    document: dict[str, Any] = json.loads(text, object_pairs_hook=_unique_keys)
    return document


def flat_statuses(document: Mapping[str, Any]) -> dict[str, str]:
    """Map each run key recorded in a checkpoint document to its status."""
    return {f"{tier}:{sub}:{number}": entry["status"]
            for tier, subs in document["runs"].items()
            for sub, runs in subs.items() for number, entry in runs.items()}


def ledger_statuses(exp: TestExperiment) -> dict[str, str]:
    """Return the statuses the tool itself reads back, journal included."""
    ledger = Checkpoint(ResultsLayout(exp.results), "demo", "")
    return flat_statuses(ledger.document())


def final_statuses(exp: TestExperiment) -> dict[str, str]:
    """Return the statuses checkpoint.json holds after a build ended."""
    document = read_checkpoint_file(exp)
    assert document is not None, "no checkpoint.json after the build"
    return flat_statuses(document)


def assert_worktrees_match_disk(exp: TestExperiment) -> None:
    """Every registered worktree has its folder, and every workspace is one."""
    registered = set().union(*registered_worktrees(exp.results).values())
    on_disk = {folder.resolve()
               for folder in exp.results.glob("*/*/run_*/workspace")}
    assert registered == on_disk


def assert_no_temporaries(exp: TestExperiment) -> None:
    """No killed writer left a temporary file beside the checkpoint."""
    assert list(exp.results.glob("checkpoint.json.*.tmp")) == []


def assert_each_once(calls: list[str]) -> None:
    """No agent or judge ran twice for the same run in one build."""
    repeated = sorted({call for call in calls if calls.count(call) > 1})
    assert repeated == []


def keys_called(calls: list[str], role: str) -> set[str]:
    """Return the run keys for which `role` ("agent" or "judge") was called."""
    return {call.split()[1] for call in calls if call.startswith(f"{role} ")}


def finish(build: subprocess.Popen[str], timeout: float = 120) -> str:
    """Wait for a started doit and return its output."""
    output, _ = build.communicate(timeout=timeout)
    return output


# 1. kill -9 of the whole process tree at random moments.


def _kill_trial(exp: TestExperiment, moment: float) -> bool:
    """Kill a fresh `doit run -n 4` after `moment` s, then finish the build.

    Return whether doit was still running when it was killed.
    """
    shutil.rmtree(exp.results, ignore_errors=True)
    exp.calls()
    env = {"AGENT_MODE": SLEEPVAR}
    build = start(exp, "run", "-n", "4", env=env)
    time.sleep(moment)
    landed = build.poll() is None
    kill_tree(build.pid)
    finish(build)
    exp.calls()
    read_checkpoint_file(exp)  # must parse, whatever the moment
    passed_before = {key for key, status in ledger_statuses(exp).items()
                     if status == "passed"}

    done = exp.doit("run", "-n", "4", env=env)
    calls = exp.calls()
    context = f"kill at {moment:.2f}s: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert done.returncode == 0, context
    assert_each_once(calls)
    assert passed_before.isdisjoint(keys_called(calls, "agent")), context
    assert passed_before.isdisjoint(keys_called(calls, "judge")), context
    assert final_statuses(exp) == dict.fromkeys(run_keys(4), "passed"), context
    assert_worktrees_match_disk(exp)
    assert_no_temporaries(exp)
    return landed


def test_kill_nine_at_random_moments_loses_only_runs_in_flight(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=4, s02_mode=SLEEPVAR)
    chooser = random.Random(KILL_SEED)
    moments = [chooser.uniform(0.2, 3.5) for _ in range(KILL_TRIALS)]
    landed = [_kill_trial(exp, moment) for moment in moments]
    # A trial whose build had already ended proves little: most must land.
    trials = list(zip(moments, landed, strict=True))
    assert sum(landed) >= (len(moments) + 1) // 2, trials


# 2. SIGINT (Ctrl-C) and SIGTERM to doit's main process.


def _pids(pid_log: Path) -> dict[int, str]:
    """Map each pid agents logged to its run key (finished lines only)."""
    text = pid_log.read_text() if pid_log.exists() else ""
    lines = text.split("\n")[:-1]
    return {int(pid): key for pid, key in (line.split() for line in lines)}


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_to_build_stops_it_and_records_no_verdict_for_interrupted_runs(
        make_experiment: MakeExperiment, tmp_path: Path,
        number: signal.Signals) -> None:
    exp = make_experiment(runs=4, s02_mode="pass")
    held = run_keys(4, ("T1:s02",))
    switch = tmp_path / "agent_switch"
    switch.write_text("".join(f"{key} sleep:60\n" for key in sorted(held)))
    pid_log = tmp_path / "pids.log"
    env = {"AGENT_MODE": SLEEPVAR, "AGENT_SWITCH": str(switch),
           "TEST_PID_LOG": str(pid_log), "TEST_AGENT_CHILD": "1"}
    build = start(exp, "run", "-n", "4", env=env)
    wait_for(lambda: set(_pids(pid_log).values()) >= held,
             "the held agents to start")
    started_by_build = descendants(build.pid)
    sent = time.monotonic()
    os.kill(build.pid, number)
    output = finish(build, timeout=30)
    assert time.monotonic() - sent < 10, output
    assert build.returncode != 0, output
    left = {pid for pid in started_by_build | set(_pids(pid_log)) if is_alive(pid)}
    assert left == set(), output

    read_checkpoint_file(exp)
    statuses = ledger_statuses(exp)
    assert {key: statuses.get(key) for key in held
            if statuses.get(key) in VERDICTS} == {}
    passed_before = {key for key, status in statuses.items() if status == "passed"}
    exp.calls()
    switch.unlink()
    done = exp.doit("run", "-n", "4", env=env)
    calls = exp.calls()
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_once(calls)
    assert passed_before.isdisjoint(keys_called(calls, "agent"))
    assert keys_called(calls, "agent") >= held
    assert final_statuses(exp) == dict.fromkeys(run_keys(4), "passed")
    assert_worktrees_match_disk(exp)
    assert_no_temporaries(exp)


def test_kill_nine_of_the_main_process_alone_leaves_no_worker_or_agent(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    # More workers than runs: some doit workers never get a task to run.
    exp = make_experiment(runs=1, s02_mode="pass")
    switch = tmp_path / "agent_switch"
    switch.write_text("".join(f"{key} sleep:60\n" for key in sorted(run_keys(1))))
    pid_log = tmp_path / "pids.log"
    env = {"AGENT_SWITCH": str(switch), "TEST_PID_LOG": str(pid_log),
           "TEST_AGENT_CHILD": "1"}
    build = start(exp, "run", "-n", "8", env=env)
    wait_for(lambda: set(_pids(pid_log).values()) >= run_keys(1),
             "the held agents to start")
    started_by_build = descendants(build.pid)
    os.kill(build.pid, signal.SIGKILL)
    build.wait(timeout=10)
    everything = started_by_build | set(_pids(pid_log))
    try:
        wait_for(lambda: not any(is_alive(pid) for pid in everything),
                 "the workers and agents to exit", timeout=10)
    finally:
        for pid in everything:
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
    finish(build)
    assert not any(status in VERDICTS for status in ledger_statuses(exp).values())

    switch.unlink()
    exp.calls()
    done = exp.doit("run", "-n", "8", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert keys_called(exp.calls(), "judge") == run_keys(1)
    assert final_statuses(exp) == dict.fromkeys(run_keys(1), "passed")


# 3. Many quick runs in parallel: the checkpoint parses after every write.


def _parse_ledger_files(exp: TestExperiment) -> None:
    """checkpoint.json parses, and so does every finished journal line."""
    read_checkpoint_file(exp)
    journal = exp.results / "checkpoint.journal"
    try:
        lines = journal.read_bytes().split(b"\n")
    except FileNotFoundError:
        return
    for line in lines[:-1]:  # the last piece may still be being appended
        json.loads(line)


def _ledger_stamp(exp: TestExperiment) -> tuple[int, ...]:
    stamp: list[int] = []
    for name in ("checkpoint.json", "checkpoint.journal"):
        try:
            info = (exp.results / name).stat()
        except FileNotFoundError:
            stamp += [0, 0, 0]
            continue
        stamp += [info.st_ino, info.st_size, info.st_mtime_ns]
    return tuple(stamp)


def test_checkpoint_parses_after_every_write_of_a_parallel_build(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=16, s02_mode="pass")
    build = start(exp, "run", "-n", "8")
    seen = {_ledger_stamp(exp)}
    while build.poll() is None:
        stamp = _ledger_stamp(exp)
        if stamp not in seen:
            seen.add(stamp)
            _parse_ledger_files(exp)
        time.sleep(0.002)
    output = finish(build)
    assert build.returncode == 0, output
    assert len(seen) > 10, "the poll saw too few writes to prove anything"
    calls = exp.calls()
    assert_each_once(calls)
    assert keys_called(calls, "agent") == keys_called(calls, "judge") == run_keys(16)
    assert final_statuses(exp) == dict.fromkeys(run_keys(16), "passed")


# 4. Two builds of one experiment started together.


def test_second_build_started_at_once_refuses_naming_the_holder(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=2, s02_mode="pass")
    env = {"AGENT_MODE": "sleep:0.3"}
    builds = [start(exp, "run", env=env), start(exp, "run", env=env)]
    began = time.monotonic()
    ended: dict[int, float] = {}
    while len(ended) < len(builds):
        for build in builds:
            if build.pid not in ended and build.poll() is not None:
                ended[build.pid] = time.monotonic() - began
        time.sleep(0.01)
    outputs = {build.pid: finish(build) for build in builds}
    winners = [build for build in builds if build.returncode == 0]
    assert len(winners) == 1, outputs
    winner = winners[0]
    loser = next(build for build in builds if build is not winner)
    assert f"process {winner.pid}" in outputs[loser.pid]
    assert ended[loser.pid] < min(ended[winner.pid], 10)
    calls = exp.calls()
    assert_each_once(calls)
    assert keys_called(calls, "agent") == run_keys(2)


# 5. Kills at the two most delicate moments of a run.


GIT_WRAPPER = """#!/bin/sh
"$TEST_REAL_GIT" "$@"
status=$?
case " $* " in
  *" worktree add "*)
    count=$(( $(cat "$TEST_GIT_COUNTER" 2>/dev/null || echo 0) + 1 ))
    echo "$count" > "$TEST_GIT_COUNTER"
    if [ "$count" -eq "$TEST_GIT_KILL_AT" ]; then
      "$TEST_PYTHON" "$TEST_KILLER" kill-doit
      sleep 60
    fi;;
esac
exit $status
"""


def test_kill_after_worktree_add_rebuilds_only_unrecorded_runs(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    exp = make_experiment(runs=2, s02_mode="pass")
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(GIT_WRAPPER)
    wrapper.chmod(0o755)
    real_git = shutil.which("git")
    assert real_git is not None
    env = {"PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}",
           "TEST_REAL_GIT": real_git, "TEST_GIT_COUNTER": str(tmp_path / "adds"),
           "TEST_GIT_KILL_AT": "3", "TEST_PYTHON": sys.executable,
           "TEST_KILLER": str(KILLER)}
    crashed = exp.doit("run", env=env)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert exp.calls() == sorted(f"{role} T0:s00:{n}" for role in ("agent", "judge")
                                 for n in (1, 2))
    assert "T1:s01:1" in ledger_statuses(exp)  # killed inside its attempt

    done = exp.doit("run", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    rest = run_keys(2, ("T1:s01", "T1:s02"))
    assert exp.calls() == sorted(f"{role} {key}" for role in ("agent", "judge")
                                 for key in rest)
    assert final_statuses(exp) == dict.fromkeys(run_keys(2), "passed")
    assert_worktrees_match_disk(exp)


def test_kill_before_the_verdict_is_recorded_reruns_the_judge_alone(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    exp = make_experiment(runs=2, s02_mode="pass")
    switch = tmp_path / "judge_switch"
    switch.write_text("T1:s01:1 killtree\n")
    env = {"JUDGE_SWITCH": str(switch), "TEST_KILLER": str(KILLER),
           "TEST_KILL_MARKER": str(tmp_path / "killed")}
    crashed = exp.doit("run", env=env)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert "agent T1:s01:1" in exp.calls()
    assert ledger_statuses(exp)["T1:s01:1"] == "agent_complete"

    done = exp.doit("run", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    rest = run_keys(2, ("T1:s02",)) | {"T1:s01:2"}
    expected = [f"{role} {key}" for role in ("agent", "judge") for key in rest]
    assert exp.calls() == sorted([*expected, "judge T1:s01:1"])
    assert final_statuses(exp) == dict.fromkeys(run_keys(2), "passed")
    assert_worktrees_match_disk(exp)


# 6. Read-only commands and forget beside a running build.


def test_list_info_and_forget_work_while_a_build_holds_the_lock(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    exp = make_experiment(runs=2, s02_mode="pass")
    release = tmp_path / "release"
    switch = tmp_path / "agent_switch"
    switch.write_text(f"T1:s02:1 hold:{release}\n")
    build = start(exp, "run", env={"AGENT_SWITCH": str(switch)})
    wait_for(lambda: "agent T1:s02:1" in logged(exp), "the held agent")
    try:
        refused = exp.doit("run", timeout=20)
        listing = exp.doit("list", "--status", timeout=20)
        info = exp.doit("info", "run:T0:s00:1", timeout=20)
        forget = exp.doit("forget", "run:T0:s00:1", timeout=20)
    finally:
        release.touch()
    assert refused.returncode != 0
    assert f"process {build.pid}" in refused.stdout + refused.stderr
    assert listing.returncode == 0, listing.stderr
    status = listed_status(listing.stdout)
    assert status["run:T0:s00:1"] == "U"
    assert status["run:T1:s02:2"] == "R"
    assert info.returncode == 0, info.stderr
    assert "run:T0:s00:1" in info.stdout
    assert forget.returncode == 0, forget.stderr
    output = finish(build)
    assert build.returncode == 0, output
    assert keys_called(exp.calls(), "agent") == run_keys(2)

    done = exp.doit("run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert exp.calls() == ["agent T0:s00:1", "judge T0:s00:1"]
    assert sorted(executed_tasks(done.stdout)) == ["judge:T0:s00:1",
                                                   "run:T0:s00:1"]


# 7. An agent that floods its standard output.


def test_agent_output_beyond_the_limit_is_cut_on_disk(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="spew:120")
    done = exp.doit("run", "judge:T1:s02:1")
    assert done.returncode == 0, done.stdout + done.stderr
    log = exp.results / "T1" / "s02" / "run_01" / "agent" / "stdout.log"
    size = log.stat().st_size
    assert OUTPUT_LIMIT_BYTES <= size <= OUTPUT_LIMIT_BYTES + 1024
    with log.open("rb") as handle:
        handle.seek(-200, os.SEEK_END)
        tail = handle.read().decode()
    assert f"[scylla-build: output cut at {OUTPUT_LIMIT_BYTES} bytes" in tail
    assert tail.endswith("more bytes dropped]\n")
    assert final_statuses(exp)["T1:s02:1"] == "passed"
