"""A `git` on PATH that logs each call's subcommand and duration.

The shim is a bash script (no process of its own besides bash) that runs the
real git and appends start, end and arguments to a log, so a build can be
broken down by git subcommand without changing the tool. The shim itself
adds a bash start per call, so a traced build is slower than an untraced one.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

LOG_VARIABLE = "SCYLLA_BENCH_GIT_LOG"
SHIM = """#!/bin/bash
start=$EPOCHREALTIME
{git} "$@"
code=$?
printf '%s %s %s\\n' "$start" "$EPOCHREALTIME" "$*" >> "${log}"
exit $code
"""
# Options that come before the subcommand and take a value.
_VALUED_OPTIONS = {"-c", "-C", "--git-dir", "--work-tree"}


@dataclass(frozen=True)
class Call:
    """What one subcommand cost over a build."""

    name: str
    count: int
    seconds: float


def install(folder: Path) -> dict[str, str]:
    """Write the shim into `folder`; return the environment that uses it."""
    real = shutil.which("git")
    if real is None:
        raise SystemExit("no git on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "git"
    shim.write_text(SHIM.format(git=real, log="{" + LOG_VARIABLE + "}"))
    shim.chmod(0o755)
    log = folder / "git.log"
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
            LOG_VARIABLE: str(log), "GIT_PYTHON_GIT_EXECUTABLE": str(shim)}


def summarize(log: Path) -> list[Call]:
    """Group the logged calls by subcommand, most expensive first."""
    counts: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    for line in log.read_text().splitlines():
        start, end, *args = line.split(" ")
        name = subcommand(args)
        counts[name] += 1
        seconds[name] += float(end) - float(start)
    calls = [Call(name, counts[name], seconds[name]) for name in counts]
    return sorted(calls, key=lambda call: call.seconds, reverse=True)


def subcommand(args: list[str]) -> str:
    """Name a call by its subcommand, and its first word for worktree and bundle."""
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in _VALUED_OPTIONS else 1
    words = args[index:index + 2]
    if words[:1] in (["worktree"], ["bundle"], ["cat-file"]) and len(words) == 2:
        return " ".join(words)
    return words[0] if words else "(none)"
