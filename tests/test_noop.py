"""A second `doit` after a complete build does nothing, and touches nothing.

Also the README's first command: `doit` on the embedded hello-world example.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import (
    DOIT,
    MakeExperiment,
    TestExperiment,
    executed_tasks,
    listed_status,
    run_tasks,
    up_to_date_runs,
)

REPO = Path(__file__).resolve().parent.parent
KEYS = [f"{sub}:{n}" for sub in ("T0:s00", "T1:s01", "T1:s02") for n in (1, 2)]

# Git subcommands that never write a repository, an index or a worktree.
READ_ONLY_GIT = {"version", "cat-file", "rev-parse", "rev-list", "ls-remote",
                 "show-ref", "for-each-ref", "log", "show", "ls-tree",
                 "merge-base", "describe"}
READ_ONLY_GIT_PAIRS = {("worktree", "list"), ("bundle", "list-heads"),
                       ("bundle", "verify")}
# Global options of git that take their value as the next argument.
GIT_OPTIONS_WITH_VALUE = {"-c", "-C", "--git-dir", "--work-tree", "--namespace"}

Snapshot = dict[str, tuple[int, int, int, int]]


def snapshot(folder: Path, *, skip: str = ".scylla") -> Snapshot:
    """Record inode, mtime, size and mode of every entry under `folder`."""
    found: Snapshot = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if name != skip]
        for name in [".", *dirs, *files]:
            path = Path(root) / name
            stat = path.lstat()
            found[str(path.relative_to(folder))] = (
                stat.st_ino, stat.st_mtime_ns, stat.st_size, stat.st_mode)
    return found


def git_logger(folder: Path) -> tuple[Path, Path]:
    """Write a `git` that logs its arguments, then runs the real git.

    Returns the folder to put first on PATH and the log file.
    """
    real = shutil.which("git")
    assert real is not None
    folder.mkdir()
    log = folder / "git.log"
    script = folder / "git"
    # One line per call, arguments separated by tabs.
    script.write_text("#!/bin/sh\n"
                      f"(IFS='\t'; printf '%s\\n' \"$*\") >> '{log}'\n"
                      f"exec '{real}' \"$@\"\n")
    script.chmod(0o755)
    return folder, log


def logged_git(log: Path) -> list[list[str]]:
    """Return the argument lists of the git calls logged so far."""
    if not log.exists():
        return []
    return [line.split("\t") for line in log.read_text().splitlines()]


def writes(argv: list[str]) -> bool:
    """Say whether a git call may write, judged by its subcommand."""
    args = list(argv)
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option in GIT_OPTIONS_WITH_VALUE and args:
            args.pop(0)
    if not args:
        return False  # `git --version` and the like
    command = args[0]
    if command in READ_ONLY_GIT or tuple(args[:2]) in READ_ONLY_GIT_PAIRS:
        return False
    return not (command == "config" and any(
        arg in ("--get", "--get-all", "--list", "-l") for arg in args[1:]))


def doit_with_git_log(exp: TestExperiment, path_first: Path,
                      *args: str) -> subprocess.CompletedProcess[str]:
    """Run doit with the logging git first on PATH."""
    path = f"{path_first}{os.pathsep}{os.environ.get('PATH', '')}"
    return exp.doit(*args, env={"PATH": path})


def test_second_build_executes_nothing_and_touches_nothing(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    # A kept failed verdict must be left alone just like a pass.
    exp = make_experiment(runs=2, s02_mode="fail", rerun_failed=False)
    first = exp.doit()
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(exp.calls()) == 2 * len(KEYS)
    before = snapshot(exp.results)
    bin_folder, log = git_logger(tmp_path / "bin")

    listing = doit_with_git_log(exp, bin_folder, "list", "--status")
    status = listed_status(listing.stdout)
    assert run_tasks(KEYS) <= status.keys(), listing.stdout
    assert set(status.values()) == {"U"}, listing.stdout
    second = doit_with_git_log(exp, bin_folder)

    assert second.returncode == 0, second.stdout + second.stderr
    assert executed_tasks(second.stdout) == []
    assert exp.calls() == []
    skipped = [line for line in second.stdout.splitlines()
               if line.startswith("-- ")]
    assert len(skipped) == 1, second.stdout  # one line for every skipped run
    assert up_to_date_runs(second.stdout) == {
        key: "failed" if "s02" in key else "passed" for key in KEYS}
    assert [argv for argv in logged_git(log) if writes(argv)] == []
    assert snapshot(exp.results) == before

    # The logging git does see the tool's git calls: a forgotten run resets.
    assert exp.doit("forget", "run:T0:s00:1").returncode == 0
    log.unlink(missing_ok=True)
    doit_with_git_log(exp, bin_folder)
    assert ["reset", "--quiet", "--hard"] in [argv[:3] for argv in logged_git(log)]


def test_git_calls_of_a_no_op_build_do_not_grow_with_its_runs(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    # The no-op path may ask git about the source once per build, never per
    # run: three times the runs must cost the same git calls.
    exp = make_experiment(runs=2, s02_mode="pass")
    assert exp.doit().returncode == 0
    bin_folder, log = git_logger(tmp_path / "bin")
    doit_with_git_log(exp, bin_folder)
    few = logged_git(log)
    exp.edit("runs = 2", "runs = 6")
    assert exp.doit().returncode == 0
    log.unlink()
    second = doit_with_git_log(exp, bin_folder)
    assert executed_tasks(second.stdout) == []
    assert logged_git(log) == few


def test_git_write_detection_reads_subcommands() -> None:
    assert not writes(["version"])
    assert not writes(["cat-file", "--batch-check"])
    assert not writes(["-C", "/x", "worktree", "list", "--porcelain"])
    assert not writes(["config", "--get", "user.name"])
    assert writes(["-c", "commit.gpgsign=false", "commit", "-m", "x"])
    assert writes(["worktree", "repair", "/x"])
    assert writes(["config", "user.name", "x"])
    assert writes(["status"])  # refreshes the index


def copy_tracked(paths: list[str], project: Path) -> None:
    """Copy files git tracks in this repository into `project`."""
    listed = subprocess.run(["git", "ls-files", "-z", *paths], cwd=REPO,
                            check=True, capture_output=True, text=True)
    for name in listed.stdout.split("\0"):
        if name:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, project / name)


def hello_doit(project: Path) -> subprocess.CompletedProcess[str]:
    """Run `doit` in `project` as the README's first command does."""
    return subprocess.run([DOIT], cwd=project, capture_output=True, text=True,
                          timeout=300, check=False)


def assert_run_layout(folder: Path) -> None:
    """Check one run folder against DESIGN 4's layout after one attempt."""
    assert sorted(p.name for p in folder.iterdir()) == [
        "agent", "diff.patch", "judge", "run_result.json", "workspace"]
    assert (folder / "workspace" / ".git").is_file()
    for step in ("agent", "judge"):
        names = {p.name for p in (folder / step).iterdir()}
        assert {"stdout.log", "stderr.log", "result.json"} <= names, folder
        json.loads((folder / step / "result.json").read_text())
    assert json.loads((folder / "run_result.json").read_text())["attempt"] == 1


def test_hello_world_builds_then_executes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "project"
    copy_tracked(["dodo.py", "experiments/hello-world"], project)
    first = hello_doit(project)
    assert first.returncode == 0, first.stdout + first.stderr

    results = project / "results" / "hello-world"
    checkpoint = json.loads((results / "checkpoint.json").read_text())
    statuses = {f"{tier}:{sub}:{n}": entry["status"]
                for tier, subs in checkpoint["runs"].items()
                for sub, runs in subs.items() for n, entry in runs.items()}
    # The verdicts experiments/hello-world/README.md promises.
    expected = {"T0:s00": "failed", "T1:s01": "passed", "T1:s02": "failed"}
    assert statuses == {f"{sub}:{n}": status for sub, status in expected.items()
                        for n in (1, 2, 3)}
    assert checkpoint["commit"] == "a3afc37baf4b4c756edd0572f5469b626c71dad3"
    for key in statuses:
        tier, sub, number = key.split(":")
        assert_run_layout(results / tier / sub / f"run_{int(number):02d}")

    second = hello_doit(project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert executed_tasks(second.stdout) == []
    assert up_to_date_runs(second.stdout) == statuses
