"""A workspace's base commit and the diff of what its agent changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scylla_build.layout import ResultsLayout, RunKey
from scylla_build.worktree import Worktrees, commit_base, write_diff
from tests.conftest import git, make_source_repo


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
