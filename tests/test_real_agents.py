"""Real agent CLIs end to end: presets, rate-limit pauses, budget and slots.

The CLIs are the fakes of tests/fakecli.py, first on PATH, printing exactly the
output each CLI documents; doit runs as a user would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests import fakecli
from tests.conftest import DOIT, MakeExperiment, TestExperiment

AGENT_COMMAND = (f'command = ["{sys.executable}", "{{experiment_dir}}/agent.py", '
                 '"{prompt_file}"]')
S01_LINE = 'overlay = "tiers/T1/s01"'
S02_LINE = 'agent.env = { AGENT_MODE = "pass" }'
CLI_OF_RUN = {"T0:s00:1": "claude", "T1:s01:1": "codex", "T1:s02:1": "gemini"}


class Agents:
    """An experiment whose agent is a preset run against the fake CLIs."""

    def __init__(self, exp: TestExperiment, tmp_path: Path) -> None:
        self.exp = exp
        self.log = tmp_path / "cli.log"
        self.env = {"PATH": fakecli.path_with(fakecli.install(tmp_path / "bin")),
                    "FAKE_CLI_LOG": str(self.log),
                    "FAKE_CLI_COUNTER": str(tmp_path / "cli.count")}

    def doit(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.exp.doit(*args, env={**self.env, **env})

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [DOIT, *args], cwd=self.exp.project, text=True,
            env={**self.exp_env(), **self.env, **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def exp_env(self) -> dict[str, str]:
        return {**os.environ, "TEST_CALL_LOG": str(self.exp.call_log)}

    def calls(self) -> list[dict[str, Any]]:
        """Return the CLI calls since the last look, in the order they ended."""
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        self.log.unlink()
        return [json.loads(line) for line in lines]

    def run_dir(self, key: str) -> Path:
        tier, subtest, number = key.split(":")
        return self.exp.results / tier / subtest / f"run_{int(number):02d}"


def preset_experiment(make_experiment: MakeExperiment, tmp_path: Path, *,
                      runs: int = 1, mixed: bool = False,
                      experiment: str = "") -> Agents:
    """Make an experiment whose agent is Claude Code (or one preset per subtest)."""
    exp = make_experiment(runs=runs, s02_mode="pass")
    exp.edit(AGENT_COMMAND, 'preset = "claude-code"\n'
             'model = "claude-sonnet-4-5"\nargs = ["--max-turns", "30"]')
    if mixed:
        exp.edit(S01_LINE, f'{S01_LINE}\nagent.preset = "codex"')
        exp.edit(S02_LINE, f'{S02_LINE}\nagent.preset = "gemini"')
    if experiment:
        exp.edit("[experiment]\n", f"[experiment]\n{experiment}\n")
    return Agents(exp, tmp_path)


def document(exp: TestExperiment) -> dict[str, Any]:
    return dict(json.loads((exp.results / "checkpoint.json").read_text()))


def entries(exp: TestExperiment) -> dict[str, dict[str, Any]]:
    return {f"{tier}:{sub}:{number}": entry
            for tier, subs in document(exp)["runs"].items()
            for sub, runs in subs.items() for number, entry in runs.items()}


EXPECTED: dict[str, fakecli.Expected] = {
    "claude": fakecli.CLAUDE_SUCCESS, "codex": fakecli.CODEX_SUCCESS,
    "gemini": fakecli.GEMINI_SUCCESS}


def test_presets_record_cost_tokens_and_turns(make_experiment: MakeExperiment,
                                              tmp_path: Path) -> None:
    agents = preset_experiment(make_experiment, tmp_path, mixed=True)
    done = agents.doit()
    assert done.returncode == 0, done.stdout + done.stderr
    found = entries(agents.exp)
    for key, cli in CLI_OF_RUN.items():
        want = dict(EXPECTED[cli])
        cost = want.pop("cost")
        result = json.loads((agents.run_dir(key) / "agent/result.json").read_text())
        run_result = json.loads((agents.run_dir(key) / "run_result.json").read_text())
        for record in (result, run_result, found[key]):
            assert {k: record.get(k) for k in want} == want, (key, record)
            assert record.get("cost_usd") == cost, (key, record)
        assert result["is_error"] is False and "rate_limited" not in result
        assert found[key]["status"] == "passed"
        assert (agents.run_dir(key) / "agent/stdout.log").read_text().strip()
    shown = json.loads(agents.doit("results", "--json").stdout)
    usage = {f"{r['tier']}:{r['subtest']}:{r['run']}":
             (r["cost_usd"], r["input_tokens"], r["output_tokens"]) for r in shown}
    assert usage == {key: (EXPECTED[cli]["cost"], EXPECTED[cli]["input_tokens"],
                           EXPECTED[cli]["output_tokens"])
                     for key, cli in CLI_OF_RUN.items()}
    argv = {call["cli"]: call["argv"] for call in agents.calls()}
    prompt = (agents.exp.directory / "prompt.md").read_text()
    assert argv["claude"] == ["--max-turns", "30", "--model", "claude-sonnet-4-5",
                              "--output-format", "json", "-p", prompt]
    assert argv["codex"] == ["exec", "--json", prompt]
    assert argv["gemini"] == ["--output-format", "json", "--prompt", prompt]


def test_presets_error_output_is_an_error_with_the_cli_message(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    agents = preset_experiment(make_experiment, tmp_path, mixed=True)
    done = agents.doit(FAKE_CLI_MODE="error")
    assert done.returncode != 0, done.stdout
    found = entries(agents.exp)
    for key, cli in CLI_OF_RUN.items():
        entry = found[key]
        assert (entry["status"], entry["reason"]) == ("error", "agent_error"), entry
        assert fakecli.ERROR_MESSAGES[cli] in entry["detail"]
    assert not any(line.startswith("judge") for line in agents.exp.calls())


def watch(agents: Agents, process: subprocess.Popen[str],
          timeout: float = 90) -> list[dict[str, Any]]:
    """Poll checkpoint.json until doit ends; return every version seen."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):  # not written yet
            seen.append(document(agents.exp))
        time.sleep(0.05)
    process.communicate(timeout=max(deadline - time.monotonic(), 1))
    return seen


def assert_waited(calls: list[dict[str, Any]], limited: list[dict[str, Any]],
                  pauses: list[dict[str, Any]]) -> None:
    """Check that every call after the limits, retries included, waited.

    Each limited run's retry waits for the reset its own limit reported; a
    call started after both limits waits at least for the earlier reset (on a
    loaded machine the two limited calls need not overlap, so the second
    limit may be reported after the first pause already ended).
    """
    reset_of = {pause["run"]: int(pause["reason"].rpartition("|")[2])
                for pause in pauses}
    limited_runs = {call["run"] for call in limited}
    retries = [call for call in calls
               if call["mode"] == "success" and call["run"] in limited_runs]
    assert len(retries) >= 2, calls
    assert all(call["start"] >= reset_of.get(call["run"], min(reset_of.values()))
               for call in retries), (reset_of, retries)
    # Calls already admitted when the limits were seen may run on.
    seen_limits = max(call["end"] for call in limited) + 1.0
    later = [call for call in calls
             if call["mode"] == "success" and call["start"] > seen_limits]
    assert all(call["start"] >= min(reset_of.values()) for call in later), later


def test_rate_limit_pauses_every_run_and_retries(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    agents = preset_experiment(make_experiment, tmp_path, runs=2)
    process = agents.popen("run", "-n", "4", FAKE_CLI_LIMIT_FIRST="2",
                           FAKE_CLI_RESET_IN="3")
    seen = watch(agents, process)
    assert process.returncode == 0, process.stderr
    pauses = [version["pause"] for version in seen if "pause" in version]
    assert pauses, "checkpoint.json never showed the pause"
    assert {"until", "reason", "run"} <= pauses[0].keys()
    statuses = {entry.get("status") for version in seen
                for subs in version["runs"].values()
                for runs in subs.values() for entry in runs.values()}
    assert not statuses & {"failed", "error"}, statuses
    assert "pause" not in document(agents.exp)
    assert {e["status"] for e in entries(agents.exp).values()} == {"passed"}
    calls = agents.calls()
    limited = [call for call in calls if call["mode"] == "limit"]
    assert len(limited) == 2 and len(calls) == 8
    assert_waited(calls, limited, pauses)
    for call in limited:
        archived = agents.run_dir(call["run"]) / "attempts" / "1"
        result = json.loads((archived / "agent/result.json").read_text())
        assert result["rate_limited"] is True
        state = json.loads((archived / "run_result.json").read_text())
        assert (state["status"], state["stage"]) == ("running", "rate_limited")
        assert entries(agents.exp)[call["run"]]["attempt"] == 2


def test_rate_limit_longer_than_max_wait_stops_and_resumes(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    agents = preset_experiment(make_experiment, tmp_path, runs=2,
                               experiment="max_wait = 60")
    started = time.monotonic()
    first = agents.doit(FAKE_CLI_LIMIT_FIRST="1", FAKE_CLI_RESET_IN="7200")
    assert time.monotonic() - started < 30
    assert first.returncode != 0, first.stdout
    assert "max_wait = 60" in first.stdout + first.stderr
    pause = document(agents.exp)["pause"]
    assert pause["until"] > time.strftime("%Y-%m-%dT", time.gmtime())
    found = entries(agents.exp)
    assert not {e["status"] for e in found.values()} & {"failed", "error"}
    limited = found["T0:s00:1"]
    assert (limited["status"], limited["stage"]) == ("running", "rate_limited")
    assert len(agents.calls()) == 1
    # The reset time passes: the shared pause file is what every call reads.
    state_file = agents.exp.results / ".scylla" / "pause.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "until": time.time() - 1}))
    second = agents.doit()
    assert second.returncode == 0, second.stdout + second.stderr
    assert {e["status"] for e in entries(agents.exp).values()} == {"passed"}
    assert "pause" not in document(agents.exp)
    assert len(agents.calls()) == 6


def test_ctrl_c_interrupts_a_pause(make_experiment: MakeExperiment,
                                   tmp_path: Path) -> None:
    agents = preset_experiment(make_experiment, tmp_path)
    process = agents.popen("run", FAKE_CLI_LIMIT_FIRST="1", FAKE_CLI_RESET_IN="30")
    deadline = time.monotonic() + 30
    paused = False
    while not paused and time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            paused = "pause" in document(agents.exp)
        time.sleep(0.05)
    assert paused and process.poll() is None, "the build never paused"
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 5, "Ctrl-C did not end the pause"
    assert process.returncode != 0
    found = entries(agents.exp)
    assert not {e["status"] for e in found.values()} & {"failed", "error"}


def test_budget_stops_new_agents_and_resumes_when_raised(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    agents = preset_experiment(make_experiment, tmp_path, runs=2,
                               experiment="budget_usd = 1.00")
    first = agents.doit("run", "-n", "1", FAKE_CLI_COST="0.30")
    assert first.returncode != 0, first.stdout
    assert len(agents.calls()) == 3
    said = first.stdout + first.stderr
    assert "budget spent: $0.90 (T0 $0.60, T1 $0.30)" in said, said
    found = entries(agents.exp)
    assert [e["status"] for e in found.values()] == ["passed"] * 3
    assert sum(e["spend_usd"] for e in found.values()) == pytest.approx(0.9)
    agents.exp.edit("budget_usd = 1.00", "budget_usd = 2.00")
    second = agents.doit("run", "-n", "1", FAKE_CLI_COST="0.30")
    assert second.returncode == 0, second.stdout + second.stderr
    assert sorted(call["run"] for call in agents.calls()) == [
        "T1:s01:2", "T1:s02:1", "T1:s02:2"]
    assert {e["status"] for e in entries(agents.exp).values()} == {"passed"}


def test_budget_holds_under_parallel_builds(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    agents = preset_experiment(make_experiment, tmp_path, runs=2,
                               experiment="budget_usd = 1.00")
    done = agents.doit("run", "-n", "4", FAKE_CLI_COST="0.30", FAKE_CLI_SLEEP="0.3")
    assert done.returncode != 0, done.stdout
    # Before any cost is known only one agent may run; after that the
    # estimate keeps the agents in flight within the budget.
    assert len(agents.calls()) <= 3
    spent = sum(e.get("spend_usd", 0.0) for e in entries(agents.exp).values())
    assert spent <= 1.00 + 1e-9


def test_max_concurrent_agents_caps_agents_not_tasks(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    agents = preset_experiment(make_experiment, tmp_path,
                               experiment="max_concurrent_agents = 1")
    done = agents.doit("run", "-n", "3", FAKE_CLI_SLEEP="0.2")
    assert done.returncode == 0, done.stdout + done.stderr
    spans = sorted((call["start"], call["end"]) for call in agents.calls())
    assert len(spans) == 3
    assert all(end <= start for (_, end), (start, _) in pairwise(spans)), spans


LIMITED_JUDGE = """
import os, subprocess, sys
results = os.path.join(os.environ["SCYLLA_RUN_DIR"], "..", "..", "..")
marker = os.path.join(results, "judge-limited-once")
if not os.path.exists(marker):
    open(marker, "w").close()
    sys.exit(75)
sys.exit(subprocess.call([sys.executable, sys.argv[1]]))
"""


def test_judge_rate_limit_is_retried_not_an_error(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="pass")
    (exp.directory / "limited_judge.py").write_text(LIMITED_JUDGE)
    exp.edit('"{experiment_dir}/judge.py"]',
             '"{experiment_dir}/limited_judge.py", "{experiment_dir}/judge.py"]\n'
             "rate_limit = { exit_codes = [75], backoff = 0.5 }")
    done = exp.doit()
    assert done.returncode == 0, done.stdout + done.stderr
    assert {e["status"] for e in entries(exp).values()} == {"passed"}
    archived = sorted(exp.results.glob("*/*/run_01/attempts/1-judge-1/judge"))
    assert [path.parts[-6:-3] for path in archived] == [("T0", "s00", "run_01")]
    # The limited call exited before the logging judge ran; the retry logged.
    assert exp.calls().count("judge T0:s00:1") == 1
