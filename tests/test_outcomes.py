"""Run outcomes end to end through doit: verdicts, errors, exit status (DESIGN 6)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DOIT, MakeExperiment, TestExperiment

S02_ENV = 'agent.env = {{ AGENT_MODE = "{mode}" }}'


def entries(exp: TestExperiment) -> dict[str, dict[str, Any]]:
    """Return the checkpoint's run entries keyed `T:S:N`."""
    document = json.loads((exp.results / "checkpoint.json").read_text())
    return {f"{tier}:{sub}:{number}": entry
            for tier, subs in document["runs"].items()
            for sub, runs in subs.items() for number, entry in runs.items()}


def statuses(exp: TestExperiment) -> dict[str, str]:
    """Return each run's status from the checkpoint."""
    return {key: entry["status"] for key, entry in entries(exp).items()}


def override_s02(exp: TestExperiment, mode: str, *extra: str) -> None:
    """Give T1:s02 more override lines after its agent.env."""
    line = S02_ENV.format(mode=mode)
    exp.edit(line, "\n".join((line, *extra)))


def is_running(pid: int) -> bool:
    """Say whether `pid` is a live process; a zombie counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pids: list[int], seconds: float = 5.0) -> list[int]:
    """Wait until no pid runs; return those still running after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(is_running(pid) for pid in pids):
            return []
        time.sleep(0.05)
    return [pid for pid in pids if is_running(pid)]


def test_agent_timeout_is_failed_and_its_group_killed(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    exp = make_experiment(runs=1, s02_mode="spawn:300")
    pid_file = tmp_path / "agent.pids"
    env_line = S02_ENV.format(mode="spawn:300")
    exp.edit(env_line, 'agent.env = { AGENT_MODE = "spawn:300", '
             f'AGENT_PID_FILE = "{pid_file}" }}\nagent.timeout = 1')
    started = time.monotonic()
    done = exp.doit()
    assert time.monotonic() - started < 60, "the agent was not stopped at 1 s"
    assert done.returncode != 0, done.stdout  # failed while rerun_failed
    entry = entries(exp)["T1:s02:1"]
    assert (entry["status"], entry["reason"]) == ("failed", "timeout"), entry
    assert statuses(exp)["T0:s00:1"] == "passed"
    pids = [int(word) for word in pid_file.read_text().split()]
    assert wait_gone(pids) == [], "agent or its grandchild outlived the timeout"


def test_agent_leftover_children_are_killed_after_exit(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    exp = make_experiment(runs=1, s02_mode="spawn:0")
    pid_file = tmp_path / "agent.pids"
    exp.edit(S02_ENV.format(mode="spawn:0"), 'agent.env = { AGENT_MODE = "spawn:0",'
             f' AGENT_PID_FILE = "{pid_file}" }}')
    done = exp.doit()
    assert done.returncode == 0, done.stderr
    assert statuses(exp)["T1:s02:1"] == "passed"
    grandchild = int(pid_file.read_text().split()[1])
    assert wait_gone([grandchild]) == [], "a process the agent forked was left"


def test_agent_missing_command_is_error_and_rebuilt(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="pass", rerun_failed=False)
    override_s02(exp, "pass", 'agent.command = ["/nonexistent/agent-command"]')
    first = exp.doit()
    assert first.returncode != 0, first.stdout
    entry = entries(exp)["T1:s02:1"]
    assert (entry["status"], entry["reason"]) == ("error", "agent_did_not_start")
    run = exp.results / "T1" / "s02" / "run_01"
    assert json.loads((run / "run_result.json").read_text())["status"] == "error"
    assert "judge T1:s02:1" not in exp.calls()
    second = exp.doit()
    assert second.returncode != 0, second.stdout
    assert entries(exp)["T1:s02:1"]["attempt"] == 2
    archived = run / "attempts" / "1"
    assert (archived / "agent" / "result.json").is_file()
    assert json.loads((archived / "run_result.json").read_text())["attempt"] == 1
    assert exp.calls() == [], "only the broken run may be rebuilt"


@pytest.mark.parametrize(("judge_mode", "reason"), [
    ("exit:3", "judge_exit_code"),
    ("badjson", "judge_result_invalid"),
])
def test_judge_broken_is_error(make_experiment: MakeExperiment, judge_mode: str,
                               reason: str) -> None:
    exp = make_experiment(runs=1, rerun_failed=False)
    done = exp.doit(env={"JUDGE_MODE": judge_mode})
    assert done.returncode != 0, done.stdout
    found = {key: (entry["status"], entry["reason"])
             for key, entry in entries(exp).items()}
    assert set(found.values()) == {("error", reason)}, found
    assert "Traceback" not in done.stderr


def test_judge_timeout_is_error(make_experiment: MakeExperiment,
                                tmp_path: Path) -> None:
    exp = make_experiment(runs=1, rerun_failed=False)
    exp.edit("timeout = 30\n", "timeout = 2\n")  # 1 s could catch a slow start
    switch = tmp_path / "judge.switch"
    switch.write_text("T1:s01:1 sleep:30\n")
    done = exp.doit(env={"JUDGE_SWITCH": str(switch)})
    assert done.returncode != 0, done.stdout
    entry = entries(exp)["T1:s01:1"]
    assert (entry["status"], entry["reason"]) == ("error", "judge_timeout")
    assert statuses(exp)["T0:s00:1"] == "passed"


def test_error_is_rebuilt_as_a_fresh_attempt(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="pass")
    exp.doit(env={"JUDGE_MODE": "exit:3"})
    assert set(statuses(exp).values()) == {"error"}
    exp.calls()
    again = exp.doit()
    assert again.returncode == 0, again.stdout
    keys = ("T0:s00:1", "T1:s01:1", "T1:s02:1")
    assert exp.calls() == sorted([f"agent {k}" for k in keys]
                                 + [f"judge {k}" for k in keys])
    assert {k: e["attempt"] for k, e in entries(exp).items()} == dict.fromkeys(keys, 2)
    for key in keys:
        tier, sub, _ = key.split(":")
        run = exp.results / tier / sub / "run_01"
        archived = run / "attempts" / "1"
        for name in ("agent/stdout.log", "judge/result.json", "diff.patch",
                     "run_result.json"):
            assert (archived / name).is_file(), f"{key}: {name} not archived"
        assert json.loads((archived / "run_result.json").read_text())[
            "status"] == "error"
        assert json.loads((run / "run_result.json").read_text())["status"] == "passed"


def test_rerun_failed_false_keeps_a_failed_verdict(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, rerun_failed=False)
    first = exp.doit()
    assert first.returncode == 0, first.stdout
    assert statuses(exp)["T1:s02:1"] == "failed"
    exp.calls()
    second = exp.doit()
    assert second.returncode == 0, second.stdout
    assert exp.calls() == []
    assert entries(exp)["T1:s02:1"]["attempt"] == 1


def test_rerun_failed_true_rebuilds_a_failed_verdict(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    exp.doit()
    exp.calls()
    second = exp.doit()
    assert second.returncode != 0, second.stdout
    assert exp.calls() == ["agent T1:s02:1", "judge T1:s02:1"]
    assert entries(exp)["T1:s02:1"]["attempt"] == 2


@pytest.mark.parametrize(("s02_mode", "rerun_failed", "judge_env", "exit_zero"), [
    pytest.param("pass", True, {}, True, id="all-passed"),
    pytest.param("fail", True, {}, False, id="failed-rerun"),
    pytest.param("fail", False, {}, True, id="failed-final"),
    pytest.param("pass", False, {"JUDGE_MODE": "exit:3"}, False, id="error"),
    pytest.param("exit:2", True, {}, False, id="agent-exit-failed"),
])
def test_run_exit_status_follows_outcomes(
        make_experiment: MakeExperiment, s02_mode: str, rerun_failed: bool,
        judge_env: dict[str, str], exit_zero: bool) -> None:
    exp = make_experiment(runs=1, s02_mode=s02_mode, rerun_failed=rerun_failed)
    done = exp.doit("run", env=judge_env)
    assert (done.returncode == 0) is exit_zero, (done.returncode, done.stdout)
    # doit keeps going past a failed or broken run: every run was recorded.
    assert len(statuses(exp)) == 3


def test_agent_nonzero_exit_is_still_judged(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="exit:2")
    exp.doit()
    assert "judge T1:s02:1" in exp.calls()
    entry = entries(exp)["T1:s02:1"]
    assert (entry["status"], entry["reason"]) == ("failed", "judged"), entry
    agent = exp.results / "T1" / "s02" / "run_01" / "agent" / "result.json"
    assert json.loads(agent.read_text())["exit_code"] == 2


def test_agent_reading_stdin_gets_eof(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="stdin")
    override_s02(exp, "stdin", "agent.timeout = 20")
    reader, writer = os.pipe()  # held open: an inherited stdin would never end
    try:
        done = subprocess.run(
            [DOIT], cwd=exp.project, stdin=reader, capture_output=True, text=True,
            env={**os.environ, "TEST_CALL_LOG": str(exp.call_log)},
            timeout=120, check=False)
    finally:
        os.close(reader)
        os.close(writer)
    assert done.returncode == 0, done.stdout
    entry = entries(exp)["T1:s02:1"]
    assert entry["status"] == "passed", entry
    log = exp.results / "T1" / "s02" / "run_01" / "agent" / "stdout.log"
    assert "stdin bytes 0" in log.read_text()


def test_run_exit_status_with_selected_tasks(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    done = exp.doit("run", "judge:T1:*")
    assert statuses(exp)["T1:s02:1"] == "failed"
    assert done.returncode != 0, (
        "DESIGN 6: a selected run failed while rerun_failed is true, yet "
        "`doit run 'judge:T1:*'` exited 0; the non-zero exit lives only in the "
        "`report` task, which a task selection leaves out")
