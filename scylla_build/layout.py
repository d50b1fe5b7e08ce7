"""Where a run's files live under the results folder (DESIGN 4)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

CHECKPOINT_NAME = "checkpoint.json"
# The tool's own state (source cache, locks, doit's database) lives in the
# results folder too, so that moving results moves everything with them.
STATE_DIR = ".scylla"
ARCHIVED_ENTRIES = ("agent", "judge", "diff.patch", "run_result.json")


class RunKey(NamedTuple):
    """Identify one run: tier, subtest and 1-based run number.

    A tuple, so that hashing and comparing the tens of thousands of keys a
    build looks up stays in C.
    """

    tier: str
    subtest: str
    number: int

    def __str__(self) -> str:
        return f"{self.tier}:{self.subtest}:{self.number}"

    @classmethod
    def parse(cls, text: str) -> RunKey:
        """Read a key written as `T:S:N`."""
        tier, subtest, number = text.split(":")
        return cls(tier, subtest, int(number))


@dataclass(frozen=True)
class ResultsLayout:
    """Paths of the results folder and its tool state."""

    root: Path

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT_NAME

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def source_cache(self) -> Path:
        return self.state / "source.git"

    @property
    def git_lock(self) -> Path:
        return self.state / "git.lock"

    @property
    def subtest_repos(self) -> Path:
        return self.state / "worktrees"

    def subtest_repo(self, tier: str, subtest: str) -> Path:
        """Return the bare repository that registers one subtest's worktrees.

        `git worktree add` reads every registration of its repository, so
        one repository per subtest keeps its cost bounded by the subtest's
        runs instead of growing with the whole experiment.
        """
        return self.subtest_repos / tier / f"{subtest}.git"

    def registries(self) -> list[Path]:
        """Return every repository that may register workspaces, present or not.

        Results built before subtest repositories registered their
        workspaces in the source cache, so it is one of them.
        """
        return [self.source_cache, *sorted(self.subtest_repos.glob("*/*.git"))]

    def registry_lock(self, repo: Path) -> Path:
        """Return the lock serialising worktree operations on `repo` (DESIGN 7)."""
        if repo == self.source_cache:
            return self.git_lock
        return repo.with_suffix(".lock")

    @property
    def build_lock(self) -> Path:
        return self.state / "build.lock"

    @property
    def doit_db(self) -> Path:
        return self.state / "doit.sqlite"

    def run(self, key: RunKey) -> RunPaths:
        """Return the paths of one run."""
        folder = self.root / key.tier / key.subtest / f"run_{key.number:02d}"
        return RunPaths(folder)

    def workspaces(self) -> list[Path]:
        """Return the workspace folders of every run present on disk."""
        return sorted(self.root.glob("*/*/run_*/workspace"))


@dataclass(frozen=True)
class RunPaths:
    """Paths inside one run's folder."""

    root: Path

    @cached_property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def agent_dir(self) -> Path:
        return self.root / "agent"

    @property
    def judge_dir(self) -> Path:
        return self.root / "judge"

    @property
    def diff(self) -> Path:
        return self.root / "diff.patch"

    @property
    def run_result(self) -> Path:
        return self.root / "run_result.json"

    @property
    def attempts(self) -> Path:
        return self.root / "attempts"
