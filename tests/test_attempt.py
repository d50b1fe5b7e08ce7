"""Archiving attempts: numbering, a lost checkpoint, and leftovers of a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from scylla_build.attempt import archive_previous
from scylla_build.layout import ARCHIVED_ENTRIES, RunPaths


@pytest.fixture
def paths(tmp_path: Path) -> RunPaths:
    return RunPaths(tmp_path / "T1" / "s01" / "run_01")


def finish_attempt(paths: RunPaths, label: str) -> None:
    """Leave the files an attempt writes, tagged with `label`."""
    for folder in (paths.agent_dir, paths.judge_dir):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "stdout.log").write_text(label)
    paths.diff.write_text(label)
    paths.run_result.write_text(label)
    paths.workspace.mkdir(exist_ok=True)


def test_archive_without_files_starts_at_one(paths: RunPaths) -> None:
    assert archive_previous(paths, None) == 1
    assert not paths.attempts.exists()


def test_archive_moves_previous_to_its_number(paths: RunPaths) -> None:
    finish_attempt(paths, "first")
    assert archive_previous(paths, 1) == 2
    archived = paths.attempts / "1"
    assert sorted(p.name for p in archived.iterdir()) == sorted(ARCHIVED_ENTRIES)
    assert (archived / "agent" / "stdout.log").read_text() == "first"
    assert not paths.agent_dir.exists() and not paths.run_result.exists()


def test_archive_leaves_workspace_in_place(paths: RunPaths) -> None:
    finish_attempt(paths, "first")
    archive_previous(paths, 1)
    assert paths.workspace.is_dir()


def test_archive_counts_up_over_attempts(paths: RunPaths) -> None:
    for attempt in (1, 2, 3):
        finish_attempt(paths, f"attempt {attempt}")
        assert archive_previous(paths, attempt) == attempt + 1
    assert sorted(p.name for p in paths.attempts.iterdir()) == ["1", "2", "3"]
    assert (paths.attempts / "2" / "diff.patch").read_text() == "attempt 2"


def test_archive_lost_checkpoint_numbers_after_archived(paths: RunPaths) -> None:
    finish_attempt(paths, "first")
    archive_previous(paths, 1)
    finish_attempt(paths, "second")
    # The checkpoint was lost: no recorded attempt number.
    assert archive_previous(paths, None) == 3
    assert (paths.attempts / "2" / "diff.patch").read_text() == "second"
    assert (paths.attempts / "1" / "diff.patch").read_text() == "first"


def test_archive_lost_checkpoint_without_archive(paths: RunPaths) -> None:
    finish_attempt(paths, "unrecorded")
    assert archive_previous(paths, None) == 2
    assert (paths.attempts / "1" / "run_result.json").read_text() == "unrecorded"


def test_archive_lost_checkpoint_nothing_left(paths: RunPaths) -> None:
    finish_attempt(paths, "first")
    archive_previous(paths, 1)
    assert archive_previous(paths, None) == 2
    assert sorted(p.name for p in paths.attempts.iterdir()) == ["1"]


def test_archive_partial_attempt(paths: RunPaths) -> None:
    paths.agent_dir.mkdir(parents=True)
    (paths.agent_dir / "stderr.log").write_text("crashed early")
    assert archive_previous(paths, 4) == 5
    assert sorted(p.name for p in (paths.attempts / "4").iterdir()) == ["agent"]


def test_archive_existing_folder_not_overwritten(paths: RunPaths) -> None:
    crashed = paths.attempts / "1"
    crashed.mkdir(parents=True)
    (crashed / "diff.patch").write_text("left by a crash")
    finish_attempt(paths, "recorded as 1")
    assert archive_previous(paths, 1) == 2
    assert (crashed / "diff.patch").read_text() == "left by a crash"
    assert (paths.attempts / "1.1" / "diff.patch").read_text() == "recorded as 1"


def test_archive_symlink_moved_not_followed(paths: RunPaths,
                                                tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    paths.root.mkdir(parents=True)
    paths.agent_dir.symlink_to(outside, target_is_directory=True)
    assert archive_previous(paths, 1) == 2
    assert (paths.attempts / "1" / "agent").is_symlink()
    assert (outside / "keep.txt").read_text() == "keep"
