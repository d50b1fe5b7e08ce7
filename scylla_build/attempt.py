"""Attempts: a re-run moves the previous attempt's files aside, never deletes them."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from scylla_build.layout import ARCHIVED_ENTRIES, RunPaths

log = logging.getLogger(__name__)


def archive_previous(paths: RunPaths, previous: int | None) -> int:
    """Move the last attempt's files to attempts/<k>/; return the next attempt."""
    present = [paths.root / name for name in ARCHIVED_ENTRIES
               if (paths.root / name).exists() or (paths.root / name).is_symlink()]
    if previous is None:
        # No record of the last attempt (a lost or new checkpoint): number any
        # files found after the attempts already archived.
        previous = _highest(paths.attempts) + (1 if present else 0)
    for litter in paths.root.glob(".*.tmp"):
        # A record half-written when a build was killed: never read, drop it.
        litter.unlink(missing_ok=True)
    if present:
        target = _free_folder(paths.attempts, previous)
        target.mkdir(parents=True)
        for entry in present:
            os.replace(entry, target / entry.name)
        log.debug("%s: attempt %d archived to %s", paths.root, previous, target)
    return previous + 1


def _highest(attempts: Path) -> int:
    numbers = [int(p.name) for p in attempts.glob("*") if p.name.isdigit()]
    return max(numbers, default=0)


def _free_folder(attempts: Path, number: int) -> Path:
    """Return attempts/<number>, or a suffixed name if a crash left one there."""
    candidate = attempts / str(number)
    suffix = 1
    while candidate.exists():
        candidate = attempts / f"{number}.{suffix}"
        suffix += 1
    return candidate


def archive_judge(paths: RunPaths, attempt: int) -> Path | None:
    """Move a judge's files and the verdict they gave aside, to judge again.

    Used before a re-judge (a changed judge, a forget, a rate limit), so no
    verdict is ever lost: attempts/<k>-judge-<n>/ keeps the judge folder
    and a copy of run_result.json as it was.
    """
    if not paths.judge_dir.exists():
        return None
    number = 1
    while (paths.attempts / f"{attempt}-judge-{number}").exists():
        number += 1
    target = paths.attempts / f"{attempt}-judge-{number}"
    target.mkdir(parents=True)
    os.replace(paths.judge_dir, target / paths.judge_dir.name)
    if paths.run_result.exists():
        shutil.copy2(paths.run_result, target / paths.run_result.name)
    log.debug("%s: rate-limited judge archived to %s", paths.root, target)
    return target
