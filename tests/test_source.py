"""The source repository: resolving commits for every kind of source (DESIGN 3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from scylla_build.errors import ConfigError
from scylla_build.schema import Table
from scylla_build.source import SourceSpec, read_source
from tests.conftest import MakeExperiment, git, make_source_repo


@dataclass(frozen=True)
class Origin:
    """A repository with two commits, a side branch and two tags, four ways."""

    folder: Path
    first: str
    second: str

    def location(self, kind: str) -> str:
        """Return how [source].repo names this origin, relative to its parent."""
        return {"local": "origin", "bare": "origin.git", "bundle": "origin.bundle",
                "url": self.folder.as_uri()}[kind]


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    root = tmp_path_factory.mktemp("sources")
    folder = make_source_repo(root / "origin")
    first = git(folder, "rev-parse", "HEAD")
    git(folder, "branch", "feature")
    git(folder, "tag", "-a", "v1", "-m", "release 1")
    git(folder, "tag", "light")
    (folder / "more.txt").write_text("more\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "second")
    git(root, "clone", "-q", "--bare", "origin", "origin.git")
    git(folder, "bundle", "create", "-q", str(root / "origin.bundle"), "--all")
    return Origin(folder, first, git(folder, "rev-parse", "HEAD"))


def spec(origin: Origin, kind: str, commit: str, results: Path) -> SourceSpec:
    experiment_dir = origin.folder.parent
    table = Table(experiment_dir / "experiment.toml", "source",
                  {"repo": origin.location(kind), "commit": commit})
    return read_source(table, experiment_dir, results)


KINDS = ["local", "bare", "bundle", "url"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("commit", "which"), [
    ("main", "second"), ("feature", "first"), ("refs/heads/feature", "first"),
    ("light", "first"), ("v1", "first"), ("HEAD", "second"),
])
def test_resolve_ref(origin: Origin, tmp_path: Path, kind: str, commit: str,
                     which: str) -> None:
    resolved = spec(origin, kind, commit, tmp_path).resolve()
    expected = origin.first if which == "first" else origin.second
    assert resolved == expected, (
        f"{kind} source resolved {commit!r} to {resolved}, not the commit "
        f"{expected}; an annotated tag must be peeled to its commit")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("length", [7, 12, 40])
def test_resolve_sha(origin: Origin, tmp_path: Path, kind: str, length: int) -> None:
    written = origin.first[:length]
    assert spec(origin, kind, written, tmp_path).resolve() == origin.first


def test_resolve_is_done_once(origin: Origin, tmp_path: Path) -> None:
    source = spec(origin, "local", "main", tmp_path)
    assert source.resolve() == origin.second
    source.commit = "feature"
    assert source.resolve() == origin.second


@pytest.mark.parametrize("kind", KINDS)
def test_resolve_unknown_commit_names_key(origin: Origin, tmp_path: Path,
                                          kind: str) -> None:
    with pytest.raises(ConfigError) as caught:
        spec(origin, kind, "no-such-ref", tmp_path).resolve()
    assert caught.value.key == "[source].commit"
    assert "no-such-ref" in str(caught.value)


def test_resolve_bundle_unknown_commit_lists_refs(origin: Origin,
                                                  tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"use one of: .*feature.*main"):
        spec(origin, "bundle", "no-such-ref", tmp_path).resolve()


def test_ensure_cached_holds_commit_without_touching_origin(
        origin: Origin, tmp_path: Path) -> None:
    refs = git(origin.folder, "for-each-ref")
    source = spec(origin, "local", "feature", tmp_path)
    cache = source.ensure_cached()
    assert cache.is_relative_to(tmp_path)
    assert git(cache, "cat-file", "-t", origin.first) == "commit"
    assert git(origin.folder, "for-each-ref") == refs


def test_read_source_refuses_missing_path(origin: Origin, tmp_path: Path) -> None:
    table = Table(tmp_path / "experiment.toml", "source", {"repo": "nowhere"})
    with pytest.raises(ConfigError, match=r"\[source\]\.repo: names 'nowhere'"):
        read_source(table, tmp_path, tmp_path / "results")


def test_read_source_commit_defaults_to_head(origin: Origin, tmp_path: Path) -> None:
    table = Table(origin.folder.parent / "experiment.toml", "source",
                  {"repo": "origin"})
    source = read_source(table, origin.folder.parent, tmp_path)
    assert source.commit == "HEAD"
    assert source.resolve() == origin.second


def repo_state(folder: Path) -> dict[str, str | bytes]:
    """Return what a build must leave alone in the user's repository."""
    return {
        "head": git(folder, "rev-parse", "HEAD"),
        "symbolic": git(folder, "symbolic-ref", "HEAD"),
        "refs": git(folder, "for-each-ref"),
        "status": git(folder, "status", "--porcelain", "--untracked-files=all"),
        "worktrees": git(folder, "worktree", "list", "--porcelain"),
        "stash": git(folder, "stash", "list"),
        "config": (folder / ".git" / "config").read_bytes(),
        "index": (folder / ".git" / "index").read_bytes(),
    }


def test_build_leaves_user_repository_unchanged(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    source = (exp.directory / "../../../source").resolve()
    (source / "wip.txt").write_text("uncommitted work\n")
    git(source, "add", "wip.txt")
    (source / "untracked.txt").write_text("untracked\n")
    before = repo_state(source)
    done = exp.doit()
    assert (exp.results / "checkpoint.json").exists(), done.stderr
    assert repo_state(source) == before
    commit = json.loads((exp.results / "checkpoint.json").read_text())["commit"]
    assert commit == before["head"]
    workspace = exp.results / "T0" / "s00" / "run_01" / "workspace"
    assert not (workspace / "wip.txt").exists(), "uncommitted work leaked in"
