"""DESIGN 5's edit table end to end: each edit re-executes its row, nothing else.

Every test builds a small experiment completely, applies one edit, then runs
`doit list --status` and `doit` as a user would. It checks that the tasks
listed R are exactly the tasks `doit` then executes, that these are exactly
the table's row, and that the agent and judge ran exactly for those tasks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    RUN_STEPS,
    MakeExperiment,
    TestExperiment,
    executed_tasks,
    git,
    listed_status,
    preserved_runs,
    run_tasks,
)

SUBTESTS = ("T0:s00", "T1:s01", "T1:s02")
S01 = ("T1:s01:1", "T1:s01:2")
S02 = ("T1:s02:1", "T1:s02:2")

Edit = Callable[[TestExperiment], None]


def run_keys(runs: int = 2) -> list[str]:
    """Return the run keys of the conftest experiment with `runs` runs."""
    return [f"{sub}:{n}" for sub in SUBTESTS for n in range(1, runs + 1)]


ALL_KEYS = run_keys()


@dataclass(frozen=True)
class Rebuild:
    """What one `doit list --status` plus `doit` pair showed and did."""

    stale: set[str]
    executed: list[str]
    preserved: set[str]
    calls: list[str]
    returncode: int
    output: str


def first_build(make_experiment: MakeExperiment, *, returncode: int = 0,
                env: Mapping[str, str] | None = None,
                **options: object) -> TestExperiment:
    """Make an experiment and build it completely once."""
    options.setdefault("s02_mode", "pass")
    exp = make_experiment(**options)
    done = exp.doit(env=env)
    assert done.returncode == returncode, done.stdout + done.stderr
    assert len(exp.calls()) == 2 * len(ALL_KEYS)
    return exp


def rebuild(exp: TestExperiment, *, keys: list[str] | None = None,
            env: Mapping[str, str] | None = None) -> Rebuild:
    """Run `doit list --status`, then `doit`; return what each reported."""
    listing = exp.doit("list", "--status", env=env)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    status = listed_status(listing.stdout)
    every_task = run_tasks(keys or ALL_KEYS)
    assert every_task <= status.keys(), listing.stdout
    done = exp.doit(env=env)
    return Rebuild(stale={name for name, mark in status.items()
                          if mark == "R" and is_run_task(name)},
                   executed=[name for name in executed_tasks(done.stdout)
                             if is_run_task(name)],
                   preserved=preserved_runs(done.stdout),
                   calls=exp.calls(),
                   returncode=done.returncode, output=done.stdout + done.stderr)


def is_run_task(name: str) -> bool:
    """Say whether a task is one of a run's workspace, run and judge tasks."""
    return name.partition(":")[0] in RUN_STEPS


def expected_calls(tasks: set[str]) -> list[str]:
    """Return the sorted call log lines that executing `tasks` must produce."""
    agent = [f"agent {name.removeprefix('run:')}" for name in tasks
             if name.startswith("run:")]
    judge = [f"judge {name.removeprefix('judge:')}" for name in tasks
             if name.startswith("judge:")]
    return sorted(agent + judge)


def assert_reexecutes(exp: TestExperiment, expected: set[str], *,
                      returncode: int = 0, keys: list[str] | None = None,
                      env: Mapping[str, str] | None = None) -> Rebuild:
    """Check that the next `doit` lists, executes and calls exactly `expected`.

    Only the tasks of runs are compared: the report (DESIGN 8) is not part of
    the edit table.
    """
    before = workspace_trees(exp, keys or ALL_KEYS)
    result = rebuild(exp, keys=keys, env=env)
    assert result.returncode == returncode, result.output
    assert result.calls == expected_calls(expected), result.output
    assert result.stale == expected, result.output
    assert sorted(result.executed) == sorted(expected), result.output
    assert result.preserved == {key for key in keys or ALL_KEYS
                                if f"run:{key}" not in expected}, result.output
    after = workspace_trees(exp, list(before))
    for key, tree in before.items():
        if f"workspace:{key}" in expected:
            continue
        if f"run:{key}" in expected:  # reset in place: the same folder
            assert after[key]["."][0] == tree["."][0], key
        else:  # `.git` is left out: a moved worktree may be re-linked
            assert after[key] == tree, key
    return result


Tree = dict[str, tuple[int, int]]


def workspace_trees(exp: TestExperiment, keys: list[str]) -> dict[str, Tree]:
    """Record inode and mtime of everything in each existing workspace."""
    trees: dict[str, Tree] = {}
    for key in keys:
        workspace = run_folder(exp, key) / "workspace"
        if not workspace.is_dir():
            continue
        trees[key] = {}
        for root, dirs, files in os.walk(workspace):
            for name in [".", *dirs, *files]:
                path = Path(root) / name
                relative = str(path.relative_to(workspace))
                if relative != ".git":
                    trees[key][relative] = identity(path, follow=False)
    return trees


def checkpoint_entry(exp: TestExperiment, key: str) -> dict[str, object]:
    """Return one run's entry from checkpoint.json."""
    tier, subtest, number = key.split(":")
    document = json.loads((exp.results / "checkpoint.json").read_text())
    entry: dict[str, object] = document["runs"][tier][subtest][number]
    return entry


def run_folder(exp: TestExperiment, key: str) -> Path:
    """Return the results folder of one run."""
    tier, subtest, number = key.split(":")
    return exp.results / tier / subtest / f"run_{int(number):02d}"


def identity(path: Path, *, follow: bool = True) -> tuple[int, int]:
    """Return what changes when a file or folder is replaced or rewritten."""
    stat = path.stat() if follow else path.lstat()
    return stat.st_ino, stat.st_mtime_ns


def edit_nothing(exp: TestExperiment) -> None:
    """Leave the experiment as it is."""


def edit_prompt(exp: TestExperiment) -> None:
    """Change the prompt's content."""
    (exp.directory / "prompt.md").write_text("Write answer.txt, please.\n")


def edit_agent_input(exp: TestExperiment) -> None:
    """Change a file listed in [agent].inputs."""
    with (exp.directory / "agent.py").open("a") as handle:
        handle.write("# a comment the agent's behaviour does not depend on\n")


def edit_agent_table(exp: TestExperiment) -> None:
    """Change [agent].timeout."""
    exp.edit("timeout = 60", "timeout = 61")


def edit_source(exp: TestExperiment) -> None:
    """Point [source].commit at a new commit of the source repository."""
    source = exp.project.parent / "source"
    git(source, "checkout", "-q", "-b", "next")
    (source / "NEWS.md").write_text("a new commit\n")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "next")
    exp.edit('commit = "main"', f'commit = "{git(source, "rev-parse", "HEAD")}"')


def edit_overlay(exp: TestExperiment) -> None:
    """Change a file in T1/s01's overlay."""
    (exp.directory / "tiers" / "T1" / "s01" / "HINT.md").write_text("be exact\n")


def edit_override(exp: TestExperiment) -> None:
    """Change T1/s02's agent.env override."""
    exp.edit('AGENT_MODE = "pass"', 'AGENT_MODE = "pass", EXTRA = "1"')


def edit_judge_input(exp: TestExperiment) -> None:
    """Change a file listed in [judge].inputs."""
    with (exp.directory / "judge.py").open("a") as handle:
        handle.write("# a comment the verdict does not depend on\n")


def edit_judge_table(exp: TestExperiment) -> None:
    """Change [judge].timeout."""
    exp.edit("timeout = 30", "timeout = 31")


EVERY_RUN = run_tasks(ALL_KEYS)
EVERY_JUDGE = run_tasks(ALL_KEYS, ("judge",))

ROWS: list[tuple[Edit, set[str]]] = [
    (edit_nothing, set()),
    (edit_prompt, EVERY_RUN),
    (edit_agent_input, EVERY_RUN),
    (edit_agent_table, EVERY_RUN),
    (edit_overlay, run_tasks(S01)),
    (edit_override, run_tasks(S02)),
    (edit_judge_input, EVERY_JUDGE),
    (edit_judge_table, EVERY_JUDGE),
]


@pytest.mark.parametrize(("edit", "expected"), ROWS,
                         ids=[edit.__name__ for edit, _ in ROWS])
def test_edit_reexecutes_its_row_only(make_experiment: MakeExperiment, edit: Edit,
                                      expected: set[str]) -> None:
    exp = first_build(make_experiment)
    edit(exp)
    assert_reexecutes(exp, expected)
    assert_reexecutes(exp, set())


def test_edit_source_rebuilds_every_run_at_the_new_commit(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    edit_source(exp)
    assert_reexecutes(exp, EVERY_RUN)
    assert_reexecutes(exp, set())
    sha = git(exp.project.parent / "source", "rev-parse", "HEAD")
    assert json.loads((exp.results / "checkpoint.json").read_text())["commit"] == sha
    for key in ALL_KEYS:
        workspace = run_folder(exp, key) / "workspace"
        assert (workspace / "NEWS.md").is_file()
        assert checkpoint_entry(exp, key)["commit"] == sha


def test_edit_runs_raised_builds_new_runs_only(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    exp.edit("runs = 2", "runs = 3")
    new_runs = [f"{sub}:3" for sub in SUBTESTS]
    assert_reexecutes(exp, run_tasks(new_runs), keys=run_keys(3))
    assert_reexecutes(exp, set(), keys=run_keys(3))


def test_forget_resets_workspace_in_place(make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    folder = run_folder(exp, "T1:s01:2")
    workspace = folder / "workspace"
    (workspace / "scratch.txt").write_text("left by the first attempt\n")
    before = identity(workspace), identity(workspace / ".git")
    dot_git = (workspace / ".git").read_text()
    forget = exp.doit("forget", "run:T1:s01:2")
    assert forget.returncode == 0, forget.stderr
    assert_reexecutes(exp, {"run:T1:s01:2", "judge:T1:s01:2"})
    assert identity(workspace)[0] == before[0][0]
    assert identity(workspace / ".git") == before[1]
    assert (workspace / ".git").read_text() == dot_git
    assert not (workspace / "scratch.txt").exists()  # reset to its base
    assert (workspace / "HINT.md").read_text() == "be right\n"
    assert (folder / "attempts" / "1" / "run_result.json").is_file()
    assert checkpoint_entry(exp, "T1:s01:2")["attempt"] == 2
    assert checkpoint_entry(exp, "T1:s01:2")["status"] == "passed"


def test_deleted_workspace_is_recreated(make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    workspace = run_folder(exp, "T1:s01:2") / "workspace"
    shutil.rmtree(workspace)
    assert_reexecutes(exp, run_tasks(["T1:s01:2"]))
    assert (workspace / ".git").is_file()
    assert (workspace / "HINT.md").read_text() == "be right\n"
    assert git(workspace, "status", "--porcelain") == "?? answer.txt"
    assert checkpoint_entry(exp, "T1:s01:2")["status"] == "passed"
    assert_reexecutes(exp, set())


def test_failed_run_rebuilt_when_rerun_failed(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment, s02_mode="fail", returncode=1)
    assert_reexecutes(exp, run_tasks(S02), returncode=1)
    for key in S02:
        folder = run_folder(exp, key)
        archived = folder / "attempts" / "1"
        assert sorted(p.name for p in archived.iterdir()) == [
            "agent", "diff.patch", "judge", "run_result.json"]
        assert json.loads((archived / "run_result.json").read_text())["attempt"] == 1
        entry = checkpoint_entry(exp, key)
        assert (entry["status"], entry["attempt"]) == ("failed", 2)
        assert (folder / "run_result.json").is_file()


def test_failed_run_kept_when_rerun_failed_false(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment, s02_mode="fail", rerun_failed=False)
    assert_reexecutes(exp, set())
    for key in S02:
        assert checkpoint_entry(exp, key)["status"] == "failed"
        assert not (run_folder(exp, key) / "attempts").exists()


def test_errored_run_rebuilt_as_fresh_attempt(make_experiment: MakeExperiment,
                                              tmp_path: Path) -> None:
    switch = tmp_path / "judge-switch.txt"
    switch.write_text("T1:s01:2 exit:3\n")
    env = {"JUDGE_SWITCH": str(switch)}
    exp = first_build(make_experiment, returncode=1, env=env)
    assert checkpoint_entry(exp, "T1:s01:2")["status"] == "error"
    switch.unlink()
    assert_reexecutes(exp, run_tasks(["T1:s01:2"]), env=env)
    entry = checkpoint_entry(exp, "T1:s01:2")
    assert (entry["status"], entry["attempt"]) == ("passed", 2)
    archived = run_folder(exp, "T1:s01:2") / "attempts" / "1"
    assert json.loads((archived / "judge" / "result.json").read_text())[
        "exit_code"] == 3
    assert_reexecutes(exp, set(), env=env)


def test_unfinished_run_rebuilt_as_fresh_attempt(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    checkpoint = exp.results / "checkpoint.json"
    document = json.loads(checkpoint.read_text())
    document["runs"]["T1"]["s01"]["2"]["status"] = "running"
    checkpoint.write_text(json.dumps(document, indent=1))
    assert_reexecutes(exp, run_tasks(["T1:s01:2"]))
    entry = checkpoint_entry(exp, "T1:s01:2")
    assert (entry["status"], entry["attempt"]) == ("passed", 2)
    assert (run_folder(exp, "T1:s01:2") / "attempts" / "1" / "agent").is_dir()


# The conftest experiment with its sections and keys in another order, other
# quoting, whitespace and comments, a dotted-key table, 30.0 for 30, and new
# descriptions: the same parsed values, so the same signatures.
REFORMATTED = '''
# Reformatted by hand.

[judge]
inputs  = [ 'judge.py' ]      # judged on content
timeout = 30.0
command = [
    "{python}",
    "{{experiment_dir}}/judge.py",
]

[tiers.T1.subtests.s02.agent]
env.AGENT_MODE = "{s02_mode}"

[tiers.T1.subtests.s01]
description = "a description added later"
overlay     = 'tiers/T1/s01'

[tiers.T0]
description = "a new description"

    [tiers.T0.subtests.s00]
    description = "changed too"

[agent]
inputs  = ["agent.py"]
timeout = 60
command = ['{python}', '{{experiment_dir}}/agent.py', '{{prompt_file}}']

[task]
prompt = "prompt.md"

[source]
commit = "main"
repo   = "{repo}"

[experiment]
rerun_failed = true
runs         = 2
'''


def test_reformatted_experiment_executes_nothing(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    repo = os.path.relpath(exp.project.parent / "source", exp.directory)
    exp.file.write_text(REFORMATTED.format(python=sys.executable, repo=repo,
                                           s02_mode="pass"))
    assert_reexecutes(exp, set())


def move_project(exp: TestExperiment) -> TestExperiment:
    """Move the project folder (experiments, results, dodo.py) elsewhere."""
    # A sibling folder keeps the relative path to the source repository valid.
    target = exp.project.with_name("moved")
    shutil.move(exp.project, target)
    return dataclasses.replace(exp, project=target,
                               directory=target / "experiments" / "demo")


def test_moved_project_executes_nothing(make_experiment: MakeExperiment) -> None:
    moved = move_project(first_build(make_experiment))
    assert_reexecutes(moved, set())
    # The moved worktrees still work: a forgotten run is reset in place.
    workspace = run_folder(moved, "T1:s01:2") / "workspace"
    inode = identity(workspace)[0]
    assert moved.doit("forget", "run:T1:s01:2").returncode == 0
    assert_reexecutes(moved, {"run:T1:s01:2", "judge:T1:s01:2"})
    assert identity(workspace)[0] == inode
    assert git(workspace, "status", "--porcelain") == "?? answer.txt"


def test_moved_project_keeps_workspaces_on_their_own_worktrees(
        make_experiment: MakeExperiment) -> None:
    moved = move_project(first_build(make_experiment))
    edit_overlay(moved)  # re-creates T1:s01's worktrees in the moved folder
    assert_reexecutes(moved, run_tasks(S01))
    assert moved.doit("forget", "run:T0:s00:1").returncode == 0
    assert_reexecutes(moved, {"run:T0:s00:1", "judge:T0:s00:1"})
    for key in [*S01, "T0:s00:1"]:
        workspace = run_folder(moved, key) / "workspace"
        assert git(workspace, "rev-parse", "HEAD") == checkpoint_entry(
            moved, key)["base"], key
        assert git(workspace, "status", "--porcelain") == "?? answer.txt", key
    links = [(run_folder(moved, key) / "workspace" / ".git").read_text()
             for key in ALL_KEYS]
    assert len(set(links)) == len(links), links
