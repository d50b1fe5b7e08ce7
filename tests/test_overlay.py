"""Overlays: their fingerprint, their path checks, and laying them over a workspace."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from scylla_build.errors import ConfigError
from scylla_build.overlay import check_overlay_path, fingerprint, lay, walk
from scylla_build.schema import Table


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    """Return an overlay with a plain file, a nested script and a symlink."""
    folder = tmp_path / "experiment" / "tiers" / "T1" / "s01"
    (folder / "bin").mkdir(parents=True)
    (folder / "HINT.md").write_text("be right\n")
    script = folder / "bin" / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    (folder / "hint-link").symlink_to("HINT.md")
    return folder


def test_walk_lists_files_and_links_sorted(overlay: Path) -> None:
    names = [path.relative_to(overlay).as_posix() for path in walk(overlay)]
    assert names == ["HINT.md", "hint-link", "bin/run.sh"]


def test_fingerprint_same_content_elsewhere_is_equal(overlay: Path,
                                                     tmp_path: Path) -> None:
    copy = tmp_path / "moved" / "elsewhere"
    shutil.copytree(overlay, copy, symlinks=True)
    assert fingerprint(copy) == fingerprint(overlay)


def test_fingerprint_of_no_overlay_is_stable() -> None:
    assert fingerprint(None) == fingerprint(None)


def test_fingerprint_changes_with_content(overlay: Path) -> None:
    before = fingerprint(overlay)
    (overlay / "HINT.md").write_text("be wrong\n")
    assert fingerprint(overlay) != before


def test_fingerprint_changes_with_exec_bit(overlay: Path) -> None:
    before = fingerprint(overlay)
    (overlay / "HINT.md").chmod(0o755)
    assert fingerprint(overlay) != before


def test_fingerprint_ignores_modes_git_does_not_keep(overlay: Path) -> None:
    before = fingerprint(overlay)
    (overlay / "HINT.md").chmod(0o600)
    assert fingerprint(overlay) == before


def test_fingerprint_changes_with_link_target(overlay: Path) -> None:
    before = fingerprint(overlay)
    (overlay / "hint-link").unlink()
    (overlay / "hint-link").symlink_to("bin/run.sh")
    assert fingerprint(overlay) != before


def test_fingerprint_changes_with_path(overlay: Path) -> None:
    before = fingerprint(overlay)
    (overlay / "HINT.md").rename(overlay / "HINTS.md")
    (overlay / "hint-link").unlink()
    (overlay / "hint-link").symlink_to("HINTS.md")
    assert fingerprint(overlay) != before


def test_fingerprint_ignores_mtime(overlay: Path) -> None:
    before = fingerprint(overlay)
    os.utime(overlay / "HINT.md", (1, 1))
    assert fingerprint(overlay) == before


def test_lay_keeps_exec_bit_and_symlinks(overlay: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    lay(overlay, workspace)
    script = workspace / "bin" / "run.sh"
    assert script.read_text() == "#!/bin/sh\necho hi\n"
    assert script.stat().st_mode & stat.S_IXUSR
    assert not (workspace / "HINT.md").stat().st_mode & stat.S_IXUSR
    link = workspace / "hint-link"
    assert link.is_symlink() and os.readlink(link) == "HINT.md"
    assert fingerprint(workspace) == fingerprint(overlay)


def test_lay_replaces_existing_files_and_links(overlay: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "HINT.md").write_text("from the repository\n")
    (workspace / "keep.txt").write_text("untouched\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("must not be written through\n")
    (workspace / "hint-link").symlink_to(outside)
    lay(overlay, workspace)
    assert (workspace / "HINT.md").read_text() == "be right\n"
    assert (workspace / "keep.txt").read_text() == "untouched\n"
    assert os.readlink(workspace / "hint-link") == "HINT.md"
    assert outside.read_text() == "must not be written through\n"


def test_lay_none_does_nothing(tmp_path: Path) -> None:
    lay(None, tmp_path)
    assert list(tmp_path.iterdir()) == []


def _check(experiment: Path, written: str) -> Path:
    holder = Table(experiment / "experiment.toml", "tiers.T1.subtests.s01", {})
    return check_overlay_path(holder, "overlay", experiment, written)


def test_check_overlay_path_accepts_inner_links(overlay: Path) -> None:
    experiment = overlay.parents[2]
    assert _check(experiment, "tiers/T1/s01") == overlay


@pytest.mark.parametrize("target", ["../../s02/x", "/etc/passwd", "../../.."])
def test_check_overlay_path_refuses_links_outside(overlay: Path, target: str) -> None:
    (overlay / "bin" / "escape").symlink_to(target)
    with pytest.raises(ConfigError, match="pointing outside the overlay"):
        _check(overlay.parents[2], "tiers/T1/s01")


def test_check_overlay_path_refuses_linked_folder_outside(overlay: Path,
                                                          tmp_path: Path) -> None:
    experiment = overlay.parents[2]
    (experiment / "tiers" / "T2").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ConfigError, match="resolves outside the experiment"):
        _check(experiment, "tiers/T2")


@pytest.mark.parametrize("written", ["../outside", "tiers/../tiers/T1/s01",
                                     "/tmp"])
def test_check_overlay_path_refuses_escaping_paths(overlay: Path,
                                                   written: str) -> None:
    with pytest.raises(ConfigError, match=r"\.overlay: must stay inside"):
        _check(overlay.parents[2], written)


def test_fingerprint_of_a_fixed_overlay_never_changes(overlay: Path) -> None:
    # Recorded runs keep the fingerprint their overlay had: a change in how
    # it is computed would rebuild every run of every experiment.
    (overlay / "bin" / "docs").mkdir()
    (overlay / "bin" / "docs" / "a.txt").write_bytes(b"\x00binary\n")
    (overlay / "bin-link").symlink_to("bin")
    (overlay / "broken").symlink_to("missing")
    (overlay / "z-empty").mkdir()
    assert [path.relative_to(overlay).as_posix() for path in walk(overlay)] == [
        "bin-link", "HINT.md", "broken", "hint-link", "bin/run.sh",
        "bin/docs/a.txt"]
    assert fingerprint(overlay) == (
        "3b3b0ebfda8b5923c8a2f11a0505a1b605dfb53d69afed2ea6060774e5ef9da6")
