"""Where workspaces are registered: one small repository per subtest, end to end.

Results built before subtest repositories registered every workspace in the
source cache; those workspaces must keep working beside the new ones.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from scylla_build.worktree import commit_base
from tests.conftest import MakeExperiment, TestExperiment, git, registered_worktrees
from tests.test_edit_table import (
    S01,
    SUBTESTS,
    assert_reexecutes,
    checkpoint_entry,
    edit_overlay,
    first_build,
    identity,
    move_project,
    run_folder,
    run_keys,
)


def subtest_repo(exp: TestExperiment, subtest: str) -> Path:
    """Return the repository registering the workspaces of `T:S`."""
    tier, name = subtest.split(":")
    return exp.results / ".scylla" / "worktrees" / tier / f"{name}.git"


def source_cache(exp: TestExperiment) -> Path:
    return exp.results / ".scylla" / "source.git"


def workspace(exp: TestExperiment, key: str) -> Path:
    return run_folder(exp, key) / "workspace"


def register_in_source_cache(exp: TestExperiment, key: str) -> None:
    """Re-make one run's workspace as results built before subtest repositories.

    The base commit is made as the tool makes it, so it has the recorded sha.
    """
    folder = workspace(exp, key)
    answer = (folder / "answer.txt").read_text()
    git(subtest_repo(exp, key.rpartition(":")[0]), "worktree", "remove",
        "--force", str(folder))
    commit = str(checkpoint_entry(exp, key)["commit"])
    git(source_cache(exp), "worktree", "add", "--detach", "--quiet",
        str(folder), commit)
    if key.startswith("T1:s01:"):
        shutil.copy(exp.directory / "tiers" / "T1" / "s01" / "HINT.md", folder)
    subtest = key.rpartition(":")[0]
    assert commit_base(folder, f"scylla-build: overlay of {subtest}") == \
        checkpoint_entry(exp, key)["base"]
    (folder / "answer.txt").write_text(answer)


def assert_registered_once(exp: TestExperiment) -> dict[Path, set[Path]]:
    """Every workspace on disk is registered in exactly one repository."""
    found = registered_worktrees(exp.results)
    every = [path for paths in found.values() for path in paths]
    on_disk = {folder.resolve()
               for folder in exp.results.glob("*/*/run_*/workspace")}
    assert sorted(every) == sorted(on_disk)
    return found


def test_each_subtest_registers_its_own_runs_only(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    exp.edit("runs = 2", "runs = 3")
    assert_reexecutes(exp, {f"{step}:{sub}:3" for sub in SUBTESTS
                            for step in ("workspace", "run", "judge")},
                      keys=run_keys(3))
    found = assert_registered_once(exp)
    assert found.pop(source_cache(exp)) == set()
    assert found == {subtest_repo(exp, sub): {
        workspace(exp, f"{sub}:{n}").resolve() for n in (1, 2, 3)}
        for sub in SUBTESTS}


def test_subtest_repository_borrows_cache_objects_by_relative_path(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    repo = subtest_repo(exp, "T1:s01")
    link = (repo / "objects" / "info" / "alternates").read_text().strip()
    assert not os.path.isabs(link)
    assert (repo / "objects" / link).resolve() == (
        source_cache(exp) / "objects").resolve()
    for tool_repo in (repo, source_cache(exp)):
        assert git(tool_repo, "config", "--local", "gc.auto") == "0"


def test_workspace_in_source_cache_is_kept_then_replaced(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    for key in ("T0:s00:1", "T1:s01:1"):
        register_in_source_cache(exp, key)
    before = identity(workspace(exp, "T1:s01:1"))
    assert_reexecutes(exp, set())
    assert identity(workspace(exp, "T1:s01:1")) == before
    edit_overlay(exp)  # rebuilds T1:s01's runs, one of them in the cache
    assert_reexecutes(exp, {f"{step}:{key}" for key in S01
                            for step in ("workspace", "run", "judge")})
    found = assert_registered_once(exp)
    assert found[source_cache(exp)] == {workspace(exp, "T0:s00:1").resolve()}
    assert found[subtest_repo(exp, "T1:s01")] == {
        workspace(exp, key).resolve() for key in S01}
    assert (workspace(exp, "T1:s01:1") / "HINT.md").read_text() == "be exact\n"


def test_moved_results_relink_cache_and_subtest_repositories(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    register_in_source_cache(exp, "T0:s00:1")
    moved = move_project(exp)
    assert_reexecutes(moved, set())
    found = assert_registered_once(moved)
    assert found[source_cache(moved)] == {workspace(moved, "T0:s00:1").resolve()}
    # Both kinds of worktree work after the move: forgotten runs reset in place.
    for key in ("T0:s00:1", "T1:s01:2"):
        assert moved.doit("forget", f"run:{key}").returncode == 0
    assert_reexecutes(moved, {"run:T0:s00:1", "judge:T0:s00:1",
                              "run:T1:s01:2", "judge:T1:s01:2"})
    for key in ("T0:s00:1", "T1:s01:2"):
        assert git(workspace(moved, key), "status", "--porcelain") == \
            "?? answer.txt", key
    assert_registered_once(moved)
