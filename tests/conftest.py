"""Shared fixtures: real git repositories and experiments driven by real doit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from scylla_build.keyrange import expand_keys

DOIT = str(Path(sys.executable).with_name("doit"))

# The agent and judge log each invocation, so tests can assert exactly which
# steps executed. Behaviour comes from env set per subtest (agent.env) or in
# the experiment file, never from randomness.
AGENT_SCRIPT = '''
import json, os, sys, time
log = os.environ["TEST_CALL_LOG"]
key = ":".join(os.environ[k] for k in ("SCYLLA_TIER", "SCYLLA_SUBTEST", "SCYLLA_RUN"))
with open(log, "a") as handle:
    handle.write(f"agent {key}\\n")
mode = os.environ.get("AGENT_MODE", "pass")
# AGENT_SWITCH, like JUDGE_SWITCH below: "T:S:N MODE" lines in a file outside
# the experiment, so a test can hold one run's agent without a new signature.
agent_switch = os.environ.get("AGENT_SWITCH", "")
if agent_switch and os.path.exists(agent_switch):
    for line in open(agent_switch).read().splitlines():
        target, _, switched = line.partition(" ")
        if target == key:
            mode = switched
# TEST_PID_LOG: append "<pid> <key>" for this agent and, with
# TEST_AGENT_CHILD set, for a child it forks and leaves sleeping.
if os.environ.get("TEST_PID_LOG"):
    import subprocess
    pids = [os.getpid()]
    if os.environ.get("TEST_AGENT_CHILD"):
        pids.append(subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"]).pid)
    with open(os.environ["TEST_PID_LOG"], "a") as handle:
        handle.write("".join(f"{pid} {key}\\n" for pid in pids))
if mode.startswith("hold:"):
    # hold:PATH waits (at most 60 s) until the file PATH exists, then passes.
    release = mode.split(":", 1)[1]
    for _ in range(6000):
        if os.path.exists(release):
            break
        time.sleep(0.01)
    mode = "pass"
if mode.startswith("sleepvar:"):
    # sleepvar:LOW:HIGH sleeps a duration in [LOW, HIGH] chosen by the run key.
    import zlib
    low, high = (float(part) for part in mode.split(":")[1:3])
    spread = (zlib.crc32(key.encode()) % 1000) / 999
    mode = f"sleep:{low + (high - low) * spread}"
if mode.startswith("spew:"):
    # spew:MB prints MB mebibytes to standard output, then passes.
    line = b"x" * 1023 + b"\\n"
    for _ in range(int(mode.split(":")[1]) * 1024):
        sys.stdout.buffer.write(line)
    sys.stdout.flush()
    mode = "pass"
if mode.startswith("spawn:"):
    # spawn:N leaves a grandchild `sleep 300` in the agent's process group and
    # writes "<agent pid> <grandchild pid>" to AGENT_PID_FILE, then sleeps N.
    import subprocess
    child = subprocess.Popen(["sleep", "300"])
    with open(os.environ["AGENT_PID_FILE"], "w") as handle:
        handle.write(f"{os.getpid()} {child.pid}\\n")
    mode = "sleep:" + mode.split(":", 1)[1]
if mode == "stdin":
    # Reads standard input to its end: hangs unless the tool closed it.
    print("stdin bytes", len(sys.stdin.read()))
    mode = "pass"
if mode.startswith("sleep:"):
    time.sleep(float(mode.split(":")[1]))
    mode = "pass"
if mode.startswith("exit:"):
    sys.exit(int(mode.split(":")[1]))
with open("answer.txt", "w") as handle:
    handle.write("right" if mode == "pass" else "wrong")
if mode == "badjson":
    open(os.environ["SCYLLA_AGENT_RESULT"], "w").write("{not json")
else:
    with open(os.environ["SCYLLA_AGENT_RESULT"], "w") as handle:
        json.dump({"cost_usd": 0.01, "input_tokens": 10, "output_tokens": 5}, handle)
print("agent done", key)
'''

JUDGE_SCRIPT = '''
import json, os, sys
log = os.environ["TEST_CALL_LOG"]
key = ":".join(os.environ[k] for k in ("SCYLLA_TIER", "SCYLLA_SUBTEST", "SCYLLA_RUN"))
with open(log, "a") as handle:
    handle.write(f"judge {key}\\n")
mode = os.environ.get("JUDGE_MODE", "check")
# JUDGE_SWITCH names a file of "T:S:N MODE" lines, outside the experiment so
# that editing it changes no signature: a test can switch a judge off again.
switch = os.environ.get("JUDGE_SWITCH", "")
if switch and os.path.exists(switch):
    for line in open(switch).read().splitlines():
        target, _, switched = line.partition(" ")
        if target == key:
            mode = switched
if mode == "killtree":
    # Once per TEST_KILL_MARKER file: kill -9 the doit process tree this judge
    # runs in (TEST_KILLER is tests/proctree.py), a crash before the verdict.
    if not os.path.exists(os.environ["TEST_KILL_MARKER"]):
        open(os.environ["TEST_KILL_MARKER"], "w").close()
        import subprocess, time
        subprocess.run([sys.executable, os.environ["TEST_KILLER"], "kill-doit"])
        time.sleep(60)
    mode = "check"
if mode.startswith("sleep:"):
    import time
    time.sleep(float(mode.split(":")[1]))
    mode = "check"
if mode.startswith("exit:"):
    sys.exit(int(mode.split(":")[1]))
if mode == "badjson":
    open(os.environ["SCYLLA_JUDGE_RESULT"], "w").write("[1,")
    sys.exit(0)
try:
    answer = open("answer.txt").read()
except FileNotFoundError:
    answer = ""
with open(os.environ["SCYLLA_JUDGE_RESULT"], "w") as handle:
    json.dump({"score": 1.0 if answer == "right" else 0.0}, handle)
sys.exit(0 if answer == "right" else 1)
'''

EXPERIMENT_TOML = '''
[experiment]
runs = {runs}
rerun_failed = {rerun_failed}

[source]
repo = "{repo}"
commit = "main"

[task]
prompt = "prompt.md"

[agent]
command = ["{python}", "{{experiment_dir}}/agent.py", "{{prompt_file}}"]
timeout = {agent_timeout}
inputs = ["agent.py"]

[judge]
command = ["{python}", "{{experiment_dir}}/judge.py"]
timeout = 30
inputs = ["judge.py"]

[tiers.T0]
description = "prompt only"

[tiers.T0.subtests.s00]
description = "plain"

[tiers.T1.subtests.s01]
overlay = "tiers/T1/s01"

[tiers.T1.subtests.s02]
agent.env = {{ AGENT_MODE = "{s02_mode}" }}
'''


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` with a fixed identity and date; return its output.

    Fixed dates make a repository's shas depend on its content alone, so two
    repositories written alike are alike even a second apart.
    """
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "GIT_AUTHOR_DATE": "2001-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2001-01-01T00:00:00Z"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def registered_worktrees(results: Path) -> dict[Path, set[Path]]:
    """Map each repository of the tool that registers worktrees to them.

    The source cache registers the workspaces of results built before the
    per-subtest repositories under `.scylla/worktrees/` took over.
    """
    state = results / ".scylla"
    found: dict[Path, set[Path]] = {}
    for repo in [state / "source.git", *sorted(state.glob("worktrees/*/*.git"))]:
        if not (repo / "HEAD").is_file():
            continue
        listed = git(repo, "worktree", "list", "--porcelain")
        found[repo] = {Path(block.splitlines()[0].removeprefix("worktree ")).resolve()
                       for block in listed.split("\n\n")
                       if block and "bare" not in block.splitlines()}
    return found


def make_source_repo(folder: Path) -> Path:
    """Create a small git repository with one commit on `main`."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    (folder / "README.md").write_text("toy project\n")
    (folder / "src").mkdir()
    (folder / "src" / "app.py").write_text("print('hi')\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "initial")
    return folder


@dataclass
class TestExperiment:
    """An experiment in a temporary project folder, driven through doit."""

    __test__ = False  # a fixture's product, not a test class, when imported

    project: Path
    directory: Path
    call_log: Path

    @property
    def file(self) -> Path:
        return self.directory / "experiment.toml"

    @property
    def results(self) -> Path:
        return self.project / "results" / "demo"

    def doit(self, *args: str, timeout: float = 120,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run doit as a user would, in the project folder, with `env` added."""
        full_env = {**os.environ, "TEST_CALL_LOG": str(self.call_log), **(env or {})}
        return subprocess.run([DOIT, *args], cwd=self.project, env=full_env,
                              capture_output=True, text=True, timeout=timeout,
                              check=False)

    def calls(self) -> list[str]:
        """Return the agent and judge invocations since the last call, sorted."""
        if not self.call_log.exists():
            return []
        lines = self.call_log.read_text().splitlines()
        self.call_log.unlink()
        return sorted(lines)

    def edit(self, old: str, new: str) -> None:
        """Replace text in experiment.toml; fail if it is not there."""
        text = self.file.read_text()
        assert old in text, old
        self.file.write_text(text.replace(old, new))


MakeExperiment = Callable[..., TestExperiment]


@pytest.fixture
def make_experiment(tmp_path: Path) -> MakeExperiment:
    """Return a factory of experiments: T0:s00, T1:s01 (overlay), T1:s02 (env)."""

    def make(*, runs: int = 2, rerun_failed: bool = True, s02_mode: str = "fail",
             agent_timeout: float = 60, name: str = "demo") -> TestExperiment:
        project = tmp_path / "project"
        directory = project / "experiments" / name
        (directory / "tiers" / "T1" / "s01").mkdir(parents=True)
        repo = make_source_repo(tmp_path / "source")
        (directory / "agent.py").write_text(AGENT_SCRIPT)
        (directory / "judge.py").write_text(JUDGE_SCRIPT)
        (directory / "prompt.md").write_text("Write answer.txt.\n")
        (directory / "tiers" / "T1" / "s01" / "HINT.md").write_text("be right\n")
        (directory / "experiment.toml").write_text(textwrap.dedent(
            EXPERIMENT_TOML.format(
                runs=runs, rerun_failed=str(rerun_failed).lower(),
                repo=os.path.relpath(repo, directory), python=sys.executable,
                agent_timeout=agent_timeout, s02_mode=s02_mode)))
        (project / "dodo.py").write_text(
            "from scylla_build import experiment_dodo\n"
            f"DOIT_CONFIG, task_experiment = experiment_dodo("
            f"'experiments/{name}/experiment.toml')\n")
        return TestExperiment(project, directory, tmp_path / "calls.log")

    return make


# Reading doit's console output: `doit list --status` prints "R name  doc" or
# "U name  doc"; `doit run` prints ".  name" before each task it executes.
RUN_STEPS = ("workspace", "run", "judge")


def run_tasks(keys: Iterable[str], steps: Iterable[str] = RUN_STEPS) -> set[str]:
    """Return the task names of the given steps of the given run keys."""
    return {f"{step}:{key}" for key in keys for step in steps}


def listed_status(output: str) -> dict[str, str]:
    """Map each task of `doit list --status` output to its R or U."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        mark, _, rest = line.partition(" ")
        if mark in ("R", "U") and rest:
            found[rest.split()[0]] = mark
    return found


def executed_tasks(output: str) -> list[str]:
    """Return the tasks `doit run` output says it executed, in order."""
    return [line[3:].strip() for line in output.splitlines()
            if line.startswith(".  ")]


# `doit run` closes with one line naming the runs it skipped as up to date,
# consecutive runs as ranges: "-- 4 runs up to date, workspaces preserved:
# T0:s00:1-2 passed, T1:s02:1-2 failed". A run whose judge alone executed says
# ", workspace preserved" on its own line: "[1/3] T1:s02:1 failed in 0.2s,
# workspace preserved | ...".
UP_TO_DATE_MARK = " preserved: "


def up_to_date_runs(output: str) -> dict[str, str]:
    """Map each run `doit run` output says was up to date to its status."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        if not (line.startswith("-- ") and UP_TO_DATE_MARK in line):
            continue
        for item in line.partition(UP_TO_DATE_MARK)[2].split(", "):
            written, _, status = item.rpartition(" ")
            for key in expand_keys(written):
                found[str(key)] = status
    return found


def finished_runs(output: str) -> dict[str, str]:
    """Map each run `doit run` output says finished to its finish line."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith("[") and "] " in line:
            described = line.partition("] ")[2]
            found[described.split()[0]] = described
    return found


def preserved_runs(output: str) -> set[str]:
    """Return the runs whose workspace `doit run` output says it preserved."""
    judged_only = {key for key, line in finished_runs(output).items()
                   if ", workspace preserved |" in line}
    return set(up_to_date_runs(output)) | judged_only


# The embedded example (experiments/hello-world), copied and built once per
# test session; tests that use it only read what the build left.
REPO = Path(__file__).resolve().parent.parent
EXAMPLE_FILES = ("dodo.py", "experiments/hello-world")


@dataclass
class BuiltExample:
    """A copy of the example project after one `doit` with stdout to a file."""

    project: Path
    output: str

    @property
    def results(self) -> Path:
        return self.project / "results" / "hello-world"

    def doit(self, *args: str,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run doit in the project folder as a user would."""
        return subprocess.run([DOIT, *args], cwd=self.project,
                              env={**os.environ, **(env or {})},
                              capture_output=True, text=True, timeout=300,
                              check=False)


def copy_example(project: Path) -> Path:
    """Copy the example's dodo.py and experiment folder into `project`."""
    for name in EXAMPLE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            project.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    return project


@pytest.fixture(scope="session")
def built_example(tmp_path_factory: pytest.TempPathFactory) -> BuiltExample:
    """Return the example project built once, with what `doit` printed."""
    folder = tmp_path_factory.mktemp("example")
    project = copy_example(folder / "project")
    output = folder / "doit.out"
    with output.open("w", encoding="utf-8") as handle:
        done = subprocess.run([DOIT], cwd=project, stdout=handle,
                              stderr=subprocess.PIPE, text=True, timeout=300,
                              check=False)
    assert done.returncode == 0, done.stderr
    return BuiltExample(project, output.read_text(encoding="utf-8"))
