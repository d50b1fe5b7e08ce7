"""A run's workspace as a git worktree of the cache clone, and its base commit."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import git
from filelock import FileLock

from scylla_build.source import GIT_ENV

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


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    output: str = git.Git(str(cwd)).execute(
        ["git", *args], env={**_COMMIT_ENV, **(env or {})})
    return output


class Worktrees:
    """Worktree operations on one cache clone, serialised by a file lock."""

    def __init__(self, cache: Path, lock: Path,
                 workspaces: Callable[[], list[Path]] | None = None) -> None:
        self.cache = cache
        self.lock = lock
        self.workspaces = workspaces

    def create(self, workspace: Path, sha: str) -> None:
        """Make a fresh worktree at `sha`, replacing whatever is there."""
        with FileLock(self.lock):
            self._remove_locked(workspace)
            workspace.parent.mkdir(parents=True, exist_ok=True)
            _git(self.cache, "worktree", "add", "--detach", "--quiet",
                 str(workspace), sha)

    def remove(self, workspace: Path) -> None:
        """Remove a worktree and its registration, whichever half exists."""
        with FileLock(self.lock):
            self._remove_locked(workspace)

    def _remove_locked(self, workspace: Path) -> None:
        self._relink_moved()
        if workspace.is_symlink():
            workspace.unlink()  # never follow a link out of the results folder
        elif workspace.exists():
            try:
                _git(self.cache, "worktree", "remove", "--force", "--force",
                     str(workspace))
            except git.GitCommandError:
                log.warning("%s was not a registered worktree; deleting it",
                            workspace)
                shutil.rmtree(workspace)
        # A build killed inside `git worktree add` leaves the registration
        # locked, and prune keeps locked entries.
        with contextlib.suppress(git.GitCommandError):
            _git(self.cache, "worktree", "unlock", str(workspace))
        _git(self.cache, "worktree", "prune")

    def _relink_moved(self) -> None:
        """Re-link worktrees moved with the results folder, before any prune.

        After a move every registration names the old path: prune would drop
        them all and hand their names to new worktrees, and a later repair
        would then link a moved workspace to another run's registration.
        """
        if self.workspaces is None or not self._has_stale_registration():
            return
        found = [str(path) for path in self.workspaces()
                 if not path.is_symlink() and (path / ".git").is_file()]
        for start in range(0, len(found), _REPAIR_BATCH):
            try:
                _git(self.cache, "worktree", "repair",
                     *found[start:start + _REPAIR_BATCH])
            except git.GitCommandError as err:
                log.warning("could not re-link every moved worktree: %s", err)

    def _has_stale_registration(self) -> bool:
        for record in (self.cache / "worktrees").glob("*/gitdir"):
            with contextlib.suppress(OSError):
                if not Path(record.read_text(encoding="utf-8").strip()).exists():
                    return True
        return False

    def repair(self, workspace: Path) -> None:
        """Re-link a worktree whose results folder was moved."""
        with FileLock(self.lock):
            _git(self.cache, "worktree", "repair", str(workspace))

    def is_registered(self, workspace: Path) -> bool:
        """Say whether the cache lists `workspace` as a worktree."""
        listing = _git(self.cache, "worktree", "list", "--porcelain")
        target = f"worktree {workspace.resolve()}"
        return any(line == target for line in listing.splitlines())


def commit_base(workspace: Path, message: str) -> str:
    """Commit everything in the workspace (the overlay) and return the sha."""
    _git(workspace, "add", "--all")
    _git(workspace, *_COMMIT_CONFIG, "commit", "--quiet", "--allow-empty",
         "--no-verify", "-m", message)
    return _git(workspace, "rev-parse", "HEAD").strip()


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
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        _git(workspace, "read-tree", base, env=env)
        _git(workspace, "add", "--all", env=env)
        patch = git.Git(str(workspace)).execute(
            ["git", "diff", "--cached", "--binary", base],
            env={**_COMMIT_ENV, **env}, strip_newline_in_stdout=False,
            stdout_as_string=False)
    finally:
        index.unlink(missing_ok=True)
    target.write_bytes(bytes(patch))
