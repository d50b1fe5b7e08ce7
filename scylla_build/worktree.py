"""A run's workspace as a git worktree of the cache clone, and its base commit."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from pathlib import Path

import git
from filelock import FileLock

from scylla_build.layout import STATE_DIR, ResultsLayout, RunKey
from scylla_build.source import GIT_ENV, init_bare

log = logging.getLogger(__name__)

# A fixed identity and date make the base commit of an overlay reproducible and
# keep a user's git configuration (signing, hooks) out of the workspace.
_COMMIT_ENV = {**GIT_ENV,
               "GIT_AUTHOR_NAME": "scylla-build",
               "GIT_AUTHOR_EMAIL": "scylla@localhost",
               "GIT_COMMITTER_NAME": "scylla-build",
               "GIT_COMMITTER_EMAIL": "scylla@localhost",
               "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
               "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
_COMMIT_CONFIG = ("-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null")
# Paths per `git worktree repair` call, well under the argument-length limit.
_REPAIR_BATCH = 200
# A subtest's base commits, named by what they were made from (Worktrees.base).
_BASE_REFS = "refs/scylla/bases"
# The base commits this process has found or made, by repository and ref.
_KNOWN_BASES: dict[tuple[Path, str], str] = {}


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    output: str = git.Git(str(cwd)).execute(
        ["git", *args], env={**_COMMIT_ENV, **(env or {})})
    return output


class Registry:
    """One repository that registers worktrees, serialised by a file lock.

    Nothing here runs `git worktree prune`: after the results folder moves,
    every registration names a path that is gone, and a prune would hand
    their names to new worktrees. A stale registration is replaced in place
    by `add --force --force` when its path is built again.
    """

    def __init__(self, repo: Path, lock: Path) -> None:
        self.repo = repo
        self.lock = lock

    def add(self, workspace: Path, sha: str, *,
            alternate: Path | None = None) -> None:
        """Make a fresh worktree at `sha`, creating the repository if needed."""
        self.lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.lock):
            if not (self.repo / "HEAD").exists():
                log.debug("creating %s for worktrees", self.repo)
                init_bare(self.repo, alternate=alternate)
            workspace.parent.mkdir(parents=True, exist_ok=True)
            # Twice forced: a registration left by a kill (missing folder,
            # or locked mid-add) is replaced rather than refused.
            _git(self.repo, "worktree", "add", "--force", "--force",
                 "--detach", "--quiet", str(workspace), sha)

    def remove(self, workspace: Path) -> None:
        """Remove a worktree and its registration, or just the folder."""
        with FileLock(self.lock):
            try:
                _git(self.repo, "worktree", "remove", "--force", "--force",
                     str(workspace))
            except git.GitCommandError:
                log.warning("%s was not a registered worktree; deleting it",
                            workspace)
                shutil.rmtree(workspace)

    def repair(self, workspaces: list[str]) -> None:
        """Re-link worktrees of this repository whose folders were moved."""
        with FileLock(self.lock):
            _git(self.repo, "worktree", "repair", *workspaces)

    def commit_named(self, ref: str) -> str | None:
        """Return the commit `ref` names in this repository, if it names one."""
        if not (self.repo / "HEAD").exists():
            return None
        try:
            return _git(self.repo, "rev-parse", "--verify", "--quiet",
                        f"{ref}^{{commit}}").strip()
        except git.GitCommandError:
            return None

    def name_commit(self, ref: str, sha: str) -> None:
        """Point `ref` at `sha`; the lock keeps parallel runs from racing on it."""
        with FileLock(self.lock):
            # Only this method writes such refs, under this lock: a lock file
            # of the ref is a leftover of a git that was killed.
            (self.repo / f"{ref}.lock").unlink(missing_ok=True)
            _git(self.repo, "update-ref", ref, sha)

    def sample_registration(self) -> Path | None:
        """Return where one registered worktree was last known to live."""
        with contextlib.suppress(OSError), \
                os.scandir(self.repo / "worktrees") as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    text = Path(entry.path, "gitdir").read_text(encoding="utf-8")
                    return Path(text.strip())
        return None


class Worktrees:
    """The workspaces of a results folder as worktrees of the cache clone.

    Each subtest's workspaces are registered in a small bare repository of
    their own that borrows the cache's objects (ResultsLayout.subtest_repo).
    Workspaces of results built before then stay registered in the cache
    and are found through their `.git` file.
    """

    def __init__(self, layout: ResultsLayout) -> None:
        self.layout = layout
        self.cache = layout.source_cache

    def registry(self, repo: Path) -> Registry:
        return Registry(repo, self.layout.registry_lock(repo))

    def create(self, key: RunKey, sha: str) -> None:
        """Make a fresh worktree of run `key` at `sha`, replacing what is there."""
        workspace = self.layout.run(key).workspace
        self.remove(workspace)
        repo = self.layout.subtest_repo(key.tier, key.subtest)
        self.registry(repo).add(workspace, sha, alternate=self.cache)

    def base(self, key: RunKey, made_from: str) -> str | None:
        """Return the base commit an earlier run of this subtest made, if any.

        `made_from` names what a base is made of (the pinned commit and the
        overlay's fingerprint): every run of a subtest starts from the same
        files, and the commit is reproducible, so one made by any earlier
        run, in any process, serves them all.
        """
        repo = self.layout.subtest_repo(key.tier, key.subtest)
        ref = _base_ref(made_from)
        found = _KNOWN_BASES.get((repo, ref))
        if found is None:
            found = self.registry(repo).commit_named(ref)
            if found is not None:
                _KNOWN_BASES[(repo, ref)] = found
        return found

    def keep_base(self, key: RunKey, made_from: str, sha: str) -> None:
        """Name a subtest's new base commit for the runs that come after."""
        repo = self.layout.subtest_repo(key.tier, key.subtest)
        ref = _base_ref(made_from)
        self.registry(repo).name_commit(ref, sha)
        _KNOWN_BASES[(repo, ref)] = sha

    def remove(self, workspace: Path) -> None:
        """Remove a worktree and its registration, whichever half exists."""
        if workspace.is_symlink():
            workspace.unlink()  # never follow a link out of the results folder
        elif workspace.exists():
            repo = self.registered_in(workspace) or self.cache
            self.registry(repo).remove(workspace)

    def repair(self, workspace: Path) -> None:
        """Re-link a worktree whose results folder was moved."""
        repo = self.registered_in(workspace) or self.cache
        self.registry(repo).repair([str(workspace)])

    def registered_in(self, workspace: Path) -> Path | None:
        """Return the tool's repository that `workspace` is registered in.

        The `.git` file names the registration by its path when it was last
        linked; its part under the state folder is the same after a move.
        """
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = (workspace / ".git").read_text(encoding="utf-8")
            if text.startswith("gitdir:"):
                parts = (workspace / text.removeprefix("gitdir:").strip()).parts
                if STATE_DIR in parts:
                    inner = parts[len(parts) - parts[::-1].index(STATE_DIR):]
                    repo = self.layout.state.joinpath(*inner).parent.parent
                    return repo if self._is_registry(repo) else None
        return None

    def _is_registry(self, repo: Path) -> bool:
        known = (repo == self.layout.source_cache
                 or repo.parent.parent == self.layout.subtest_repos)
        return known and (repo / "HEAD").is_file()

    def relink_if_moved(self) -> None:
        """Re-link every worktree if the results folder was moved.

        One registration is enough to tell: a move changes them all.
        """
        sample = self._sample_registration()
        # git records real paths: compare with the resolved results folder.
        if sample is None or sample.is_relative_to(self.layout.root.resolve()):
            return
        # `repair` run in the wrong repository would adopt a workspace
        # whose registration has the same name there, so each goes to its own.
        groups: dict[Path, list[str]] = {}
        for path in self.layout.workspaces():
            repo = None if path.is_symlink() else self.registered_in(path)
            if repo is not None:
                groups.setdefault(repo, []).append(str(path))
        log.warning("the results folder was moved (a worktree was registered "
                    "at %s); re-linking %d workspaces of %d repositories",
                    sample, sum(map(len, groups.values())), len(groups))
        for repo, paths in groups.items():
            registry = self.registry(repo)
            for start in range(0, len(paths), _REPAIR_BATCH):
                try:
                    registry.repair(paths[start:start + _REPAIR_BATCH])
                except git.GitCommandError as err:
                    log.warning("could not re-link every moved worktree: %s", err)

    def _sample_registration(self) -> Path | None:
        for repo in self.layout.registries():
            sample = self.registry(repo).sample_registration()
            if sample is not None:
                return sample
        return None


def _base_ref(made_from: str) -> str:
    return f"{_BASE_REFS}/{hashlib.sha256(made_from.encode()).hexdigest()}"


def commit_base(workspace: Path, message: str) -> str:
    """Commit everything in the workspace (the overlay) and return the sha.

    Plumbing rather than `git commit`, which refreshes the whole index again:
    right after a checkout every entry looks racily clean to git and is
    hashed anew, which `git add --all` has just done. The commit is the same.
    """
    _git(workspace, "add", "--all")
    tree = _git(workspace, "write-tree").strip()
    sha = _git(workspace, *_COMMIT_CONFIG, "commit-tree", tree, "-p", "HEAD",
               "-m", message).strip()
    _git(workspace, "update-ref", "--no-deref", "HEAD", sha)
    return sha


def reset_to(workspace: Path, base: str) -> None:
    """Put the workspace back to its base commit, dropping untracked files."""
    _git(workspace, "reset", "--quiet", "--hard", base)
    _git(workspace, "clean", "-ffdxq")


def head(workspace: Path) -> str:
    """Return the commit the workspace's HEAD points at."""
    return _git(workspace, "rev-parse", "HEAD").strip()


def write_diff(workspace: Path, base: str, target: Path) -> None:
    """Write the agent's changes against the base, untracked files included."""
    # A private index keeps the workspace's own index exactly as the agent left it.
    index = target.with_name(f".{target.name}.index")
    lock = index.with_name(f"{index.name}.lock")
    env = {"GIT_INDEX_FILE": str(index)}
    # Only this step uses that index, so a lock file is a killed git's leftover.
    lock.unlink(missing_ok=True)
    try:
        _seed_index(workspace, base, index)
        _git(workspace, "add", "--all", env=env)
        patch = git.Git(str(workspace)).execute(
            ["git", "diff", "--cached", "--binary", base],
            env={**_COMMIT_ENV, **env}, strip_newline_in_stdout=False,
            stdout_as_string=False)
    finally:
        index.unlink(missing_ok=True)
        lock.unlink(missing_ok=True)
    target.write_bytes(bytes(patch))


def _seed_index(workspace: Path, base: str, index: Path) -> None:
    """Start the private index as a copy of the workspace's own.

    Its file stamps let `git add --all` hash only what changed since; an
    index read from the base commit has none, so every file would be hashed.
    Whatever the agent did to its index, `add --all` then makes the copy
    match the files. Without a readable index, start from the base.
    """
    own = Path(_git(workspace, "rev-parse", "--git-path", "index").strip())
    try:
        shutil.copyfile(workspace / own, index)
    except OSError:
        _git(workspace, "read-tree", base, env={"GIT_INDEX_FILE": str(index)})
