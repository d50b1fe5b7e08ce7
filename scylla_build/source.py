"""The source repository: where it is, the commit it pins, and the tool's cache."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import git
from filelock import FileLock

from scylla_build.errors import ConfigError
from scylla_build.layout import ResultsLayout
from scylla_build.schema import Table

log = logging.getLogger(__name__)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/\s]+@[^/\s]+:")
_HEX = re.compile(r"[0-9a-fA-F]{4,40}")
_FETCH_REFSPECS = ("+refs/heads/*:refs/scylla/heads/*",
                   "+refs/tags/*:refs/scylla/tags/*")
# Git must never stop to ask for a password in the middle of a build.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}


class SourceSpec:
    """Where the source comes from and the commit it is pinned to."""

    def __init__(self, file: Path, repo: str, commit: str, location: str,
                 results: Path) -> None:
        self.file = file
        self.repo = repo
        self.commit = commit
        self.location = location
        self.layout = ResultsLayout(results.absolute())
        self.sha = ""
        self._cached = ""

    @property
    def is_local_repo(self) -> bool:
        return Path(self.location).is_dir()

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        """Build a ConfigError about a key of [source]."""
        return ConfigError(self.file, f"[source].{key}", problem, fix)

    def resolve(self) -> str:
        """Resolve `commit` to a full sha, once; raise ConfigError if impossible."""
        if not self.sha:
            self.sha = self._resolve()
        return self.sha

    def _resolve(self) -> str:
        if self.is_local_repo:
            return self._resolve_in_repo()
        heads = self._list_heads()
        for name in (self.commit, f"refs/heads/{self.commit}",
                     f"refs/tags/{self.commit}"):
            peeled = heads.get(f"{name}^{{}}") or heads.get(name)
            if peeled and self._is_bundle_tag(name, heads):
                # A bundle lists an annotated tag by its tag object, unpeeled.
                return self._resolve_in_cache(peeled)
            if peeled:
                return peeled
        if _HEX.fullmatch(self.commit):
            return self._resolve_in_cache(self.commit)
        raise self.fail("commit", f"{self.commit!r} is not a branch, tag or sha "
                        f"of {self.repo}",
                        f"use one of: {', '.join(_short_names(heads)) or '(none)'}")

    def _resolve_in_repo(self) -> str:
        try:
            repo = git.Repo(self.location)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as err:
            raise self.fail("repo", f"{self.repo!r} is not a git repository",
                            "point repo at a git repository, bundle or URL") from err
        with repo:
            try:
                return repo.commit(self.commit).hexsha
            except (git.BadName, ValueError) as err:
                raise self.fail("commit", f"{self.commit!r} does not exist in "
                                f"{self.repo}", "use a branch, tag or sha that "
                                "exists there") from err

    def _list_heads(self) -> dict[str, str]:
        """Return ref name to sha for a bundle or a remote URL."""
        runner = git.Git()
        try:
            if Path(self.location).is_file():
                text = runner.bundle("list-heads", self.location)
            else:
                text = runner.ls_remote(self.location, env=GIT_ENV)
        except git.GitCommandError as err:
            raise self.fail("repo", f"{self.repo!r} is not a git repository, "
                            f"bundle or reachable URL ({_last_line(err)})",
                            "point repo at a git repository, bundle or URL") from err
        heads = {}
        for line in text.splitlines():
            sha, _, name = line.partition(" ") if " " in line else line.partition("\t")
            heads[name.strip()] = sha.strip()
        return heads

    def _is_bundle_tag(self, name: str, heads: dict[str, str]) -> bool:
        return (name.startswith("refs/tags/") and f"{name}^{{}}" not in heads
                and Path(self.location).is_file())

    def _resolve_in_cache(self, rev: str) -> str:
        """Resolve in the cache clone, fetching only when it lacks `rev`."""
        found = _cached_commit(self.layout.source_cache, rev)
        if found is None:
            self.fetch()
            found = _cached_commit(self.layout.source_cache, rev)
        if found is None:
            raise self.fail("commit", f"{self.commit!r} does not exist in "
                            f"{self.repo}", "use a branch, tag or sha that "
                            "exists there")
        return found

    def ensure_cached(self) -> Path:
        """Make sure the cache clone holds the pinned commit; return its path."""
        cache = self.layout.source_cache
        sha = self.resolve()
        if self._cached == sha:
            return cache  # objects are never removed from the cache clone
        if not _has_commit(cache, sha):
            cache.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(self.layout.git_lock):
                # Parallel workers all miss at first: one fetches, the rest
                # find the commit once they hold the lock.
                if not _has_commit(cache, sha):
                    self._fetch_locked()
        if not self._cached:
            # Caches made before gc.auto was set get it once per process.
            with FileLock(self.layout.git_lock):
                disable_auto_gc(cache)
        self._cached = sha
        return cache

    def fetch(self) -> None:
        """Fetch the source's branches and tags into the cache clone."""
        self.layout.source_cache.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.layout.git_lock):
            self._fetch_locked()

    def _fetch_locked(self) -> None:
        cache = self.layout.source_cache
        if not (cache / "HEAD").exists():
            init_bare(cache)
        with git.Repo(cache) as repo:
            log.info("fetching %s into %s", self.repo, cache)
            repo.git.fetch("--quiet", self.location, *_FETCH_REFSPECS,
                           env=GIT_ENV)


def init_bare(repo: Path, *, alternate: Path | None = None) -> None:
    """Create a bare repository under a temporary name, then rename it.

    `git init` writes HEAD before objects/, so a repository initialised in
    place and killed half-way would look present but fail every later build.
    With `alternate`, the new repository reads that repository's objects.
    """
    temporary = repo.with_name(f"{repo.name}.{os.getpid()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    git.Repo.init(temporary, bare=True).close()
    disable_auto_gc(temporary)
    if alternate is not None:
        # Relative to the objects folder (gitrepository-layout), so the
        # link survives a move of the whole results folder.
        link = os.path.relpath(alternate / "objects", repo / "objects")
        (temporary / "objects" / "info" / "alternates").write_text(
            f"{link}\n", encoding="utf-8")
    os.replace(temporary, repo)


def disable_auto_gc(repo: Path) -> None:
    """Set `gc.auto = 0` in one of the tool's repositories, unless it is set.

    Every run's base commit (and its diff) adds loose objects, so a long
    build would sooner or later start `git gc --auto` in the middle of it:
    a repack of the cache in the background, a `worktree prune` the tool
    never runs on purpose (see worktree.py), and a prune of objects the
    cache no longer reaches though subtest repositories' worktrees still use
    them, since they borrow the cache's objects.
    """
    with git.Repo(repo) as opened:
        with opened.config_reader("repository") as config:
            if str(config.get_value("gc", "auto", "")) == "0":
                return
        with opened.config_writer() as config:
            config.set_value("gc", "auto", 0)


def _cached_commit(cache: Path, rev: str) -> str | None:
    """Return the full sha of `rev` in the cache clone, or None."""
    if not (cache / "HEAD").exists():
        return None
    with git.Repo(cache) as repo:
        try:
            return repo.commit(rev).hexsha
        except (git.BadName, ValueError):
            return None


def _has_commit(cache: Path, sha: str) -> bool:
    if not (cache / "HEAD").exists():
        return False
    with git.Repo(cache) as repo:
        try:
            repo.git.cat_file("-e", f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
    return True


def _short_names(heads: dict[str, str]) -> list[str]:
    names = [name.removeprefix("refs/heads/").removeprefix("refs/tags/")
             for name in heads if not name.endswith("^{}")]
    return sorted(set(names))[:10]


def _last_line(err: git.GitCommandError) -> str:
    text = str(err.stderr or err).strip().splitlines()
    return text[-1].strip() if text else "git failed"


def read_source(table: Table, experiment_dir: Path, results: Path) -> SourceSpec:
    """Read [source]; the commit is resolved later, after all other checks."""
    repo = table.string("repo", example='"source.bundle"')
    commit = table.string("commit", "HEAD", example='"main"')
    table.finish()
    if _URL.match(repo):
        location = repo
    else:
        path = experiment_dir / repo
        if not path.exists():
            table.fail("repo", f"names {repo!r}, which does not exist in "
                       f"{experiment_dir}", "point repo at a git repository, "
                       "bundle or URL")
        location = str(path.absolute())
    return SourceSpec(table.file, repo, commit, location, results)
