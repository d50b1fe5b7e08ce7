"""A workspace's base commit, shared by a subtest's runs, and the agent's diff."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scylla_build.layout import ResultsLayout, RunKey
from scylla_build.worktree import Registry, Worktrees, commit_base, write_diff
from tests.conftest import MakeExperiment, git, make_source_repo
from tests.test_edit_table import (
    S01,
    checkpoint_entry,
    edit_overlay,
    first_build,
    run_folder,
    run_keys,
)
from tests.test_noop import doit_with_git_log, git_logger, logged_git


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Return a fresh worktree of a bare clone, detached at `main`."""
    source = make_source_repo(tmp_path / "source")
    (source / ".gitignore").write_text("*.log\n")
    git(source, "add", ".gitignore")
    git(source, "commit", "-q", "-m", "ignore logs")
    layout = ResultsLayout(tmp_path / "results")
    cache = layout.source_cache
    git(tmp_path, "clone", "-q", "--bare", str(source), str(cache))
    sha = git(cache, "rev-parse", "main").strip()
    key = RunKey("T", "s", 1)
    Worktrees(layout).create(key, sha)
    return layout.run(key).workspace


def test_base_commit_holds_the_overlay_and_leaves_a_clean_tree(
        workspace: Path) -> None:
    parent = git(workspace, "rev-parse", "HEAD").strip()
    (workspace / "HINT.md").write_text("be right\n")
    (workspace / "debug.log").write_text("ignored\n")
    base = commit_base(workspace, "scylla-build: overlay of T:s:1")
    assert git(workspace, "rev-parse", "HEAD").strip() == base
    assert git(workspace, "rev-parse", "HEAD^").strip() == parent
    assert git(workspace, "show", "--format=%an %ad %s", "--no-patch",
               "--date=iso-strict", base).strip() == (
        "scylla-build 2000-01-01T00:00:00+00:00 scylla-build: overlay of T:s:1")
    assert git(workspace, "ls-tree", "--name-only", base).split() == [
        ".gitignore", "HINT.md", "README.md", "src"]
    assert git(workspace, "status", "--porcelain").strip() == ""
    detached = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"],
                              cwd=workspace, check=False)
    assert detached.returncode == 1


def test_base_commit_of_no_overlay_is_a_new_empty_commit(workspace: Path) -> None:
    parent = git(workspace, "rev-parse", "HEAD").strip()
    base = commit_base(workspace, "scylla-build: overlay of T:s:1")
    assert base != parent
    assert git(workspace, "diff", "--stat", parent, base).strip() == ""


def _agent_edits(workspace: Path) -> None:
    (workspace / "README.md").write_text("changed\n")
    (workspace / "src" / "app.py").unlink()
    (workspace / "new.txt").write_text("added\n")
    (workspace / "run.log").write_text("ignored\n")


def test_diff_holds_changes_and_new_files_but_not_ignored_ones(
        workspace: Path, tmp_path: Path) -> None:
    base = commit_base(workspace, "base")
    _agent_edits(workspace)
    (workspace / "staged.txt").write_text("staged by the agent\n")
    git(workspace, "add", "staged.txt")
    index_before = git(workspace, "ls-files", "--stage")
    write_diff(workspace, base, tmp_path / "diff.patch")
    patch = (tmp_path / "diff.patch").read_text()
    assert "+changed" in patch
    assert "deleted file mode" in patch and "src/app.py" in patch
    assert "new.txt" in patch and "staged.txt" in patch
    assert "run.log" not in patch
    assert git(workspace, "ls-files", "--stage") == index_before
    assert sorted(path.name for path in tmp_path.iterdir()
                  if path.name.startswith(".diff")) == []


def test_diff_is_the_same_after_the_agent_commits_or_drops_its_index(
        workspace: Path, tmp_path: Path) -> None:
    base = commit_base(workspace, "base")
    _agent_edits(workspace)
    write_diff(workspace, base, tmp_path / "plain.patch")
    git(workspace, "add", "--all")
    git(workspace, "commit", "-q", "-m", "agent's own commit")
    write_diff(workspace, base, tmp_path / "committed.patch")
    index = Path(git(workspace, "rev-parse", "--path-format=absolute",
                     "--git-path", "index").strip())
    index.unlink()
    write_diff(workspace, base, tmp_path / "no-index.patch")
    plain = (tmp_path / "plain.patch").read_bytes()
    assert plain == (tmp_path / "committed.patch").read_bytes()
    assert plain == (tmp_path / "no-index.patch").read_bytes()
    assert subprocess.run(["git", "apply", "--check", "-R", str(tmp_path /
                                                            "plain.patch")],
                          cwd=workspace, check=False).returncode == 0


def test_runs_of_a_subtest_share_one_base_commit_made_once(
        make_experiment: MakeExperiment, tmp_path: Path) -> None:
    exp = make_experiment(runs=3, s02_mode="pass")
    overlay = exp.directory / "tiers" / "T1" / "s01"
    (overlay / ".gitignore").write_text("secret.env\n")
    (overlay / "secret.env").write_text("TOKEN=1\n")
    bin_folder, log = git_logger(tmp_path / "bin")
    done = doit_with_git_log(exp, bin_folder)
    assert done.returncode == 0, done.stdout + done.stderr

    commits = [argv for argv in logged_git(log) if "commit-tree" in argv]
    assert len(commits) == 3  # one per subtest, not one per run
    bases = {key: checkpoint_entry(exp, key)["base"] for key in run_keys(3)}
    for subtest in ("T0:s00", "T1:s01", "T1:s02"):
        assert len({bases[f"{subtest}:{n}"] for n in (1, 2, 3)}) == 1
    assert len(set(bases.values())) == 3
    base = str(bases["T1:s01:1"])
    committed = git(run_folder(exp, "T1:s01:1") / "workspace",
                    "ls-tree", "--name-only", base).split()
    assert committed == [".gitignore", "HINT.md", "README.md", "src"]
    for number in (1, 2, 3):
        # Ignored by the source, so in no commit: laid over each checkout.
        folder = run_folder(exp, f"T1:s01:{number}")
        assert (folder / "workspace" / "secret.env").read_text() == "TOKEN=1\n"
        assert "HINT.md" not in (folder / "diff.patch").read_text()


def test_changed_overlay_gets_a_new_base_commit(
        make_experiment: MakeExperiment) -> None:
    exp = first_build(make_experiment)
    before = checkpoint_entry(exp, "T1:s01:1")["base"]
    edit_overlay(exp)
    done = exp.doit()
    assert done.returncode == 0, done.stdout + done.stderr
    for key in S01:
        base = str(checkpoint_entry(exp, key)["base"])
        assert base != before
        workspace = run_folder(exp, key) / "workspace"
        assert git(workspace, "show", f"{base}:HINT.md") == "be exact"
        assert (workspace / "HINT.md").read_text() == "be exact\n"
        assert "HINT.md" not in (run_folder(exp, key) / "diff.patch").read_text()


def test_base_ref_lock_left_by_a_killed_git_is_replaced(tmp_path: Path) -> None:
    source = make_source_repo(tmp_path / "source")
    repo = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(repo))
    sha = git(repo, "rev-parse", "main")
    registry = Registry(repo, tmp_path / "bare.lock")
    ref = "refs/scylla/bases/0123"
    (repo / "refs" / "scylla" / "bases").mkdir(parents=True)
    (repo / f"{ref}.lock").write_text("")
    registry.name_commit(ref, sha)
    assert registry.commit_named(ref) == sha
    assert registry.commit_named("refs/scylla/bases/none") is None
