"""The one exception family that users of scylla-build can act on."""

from __future__ import annotations

import os
from pathlib import Path

DEBUG_VARIABLE = "SCYLLA_DEBUG"


def debugging() -> bool:
    """Say whether SCYLLA_DEBUG asks for debug logs and tracebacks."""
    return bool(os.environ.get(DEBUG_VARIABLE))


class ScyllaError(Exception):
    """An error whose message tells the user what to fix."""


class ConfigError(ScyllaError):
    """A problem in an experiment file: names the file, the key and the fix."""

    def __init__(self, file: Path | str, key: str, problem: str, fix: str) -> None:
        self.file = str(file)
        self.key = key
        self.problem = problem
        self.fix = fix
        where = f"{self.file}, {key}" if key else self.file
        super().__init__(f"{where}: {problem}; {fix}")


class SourceError(ScyllaError):
    """The source repository or its commit cannot be used."""


class LockHeldError(ScyllaError):
    """Another process is building the same results folder."""
