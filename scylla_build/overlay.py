"""A subtest's overlay: the files laid over a workspace before the agent starts."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from scylla_build.schema import Table


def check_overlay_path(table: Table, key: str, experiment_dir: Path,
                       written: str) -> Path:
    """Return the overlay folder named by `written`, refusing escapes."""
    if os.path.isabs(written) or ".." in Path(written).parts:
        table.fail(key, f"must stay inside the experiment folder, found {written!r}",
                   "use a relative path without '..', e.g. overlay = \"tiers/T1/s01\"")
    folder = experiment_dir / written
    if not folder.is_dir():
        table.fail(key, f"names {written!r}, which is not a folder in "
                   f"{experiment_dir}", "create the folder or fix the path")
    resolved = folder.resolve()
    if not resolved.is_relative_to(experiment_dir.resolve()):
        table.fail(key, f"{written!r} resolves outside the experiment folder",
                   "replace the symlink with a real folder")
    check_links(table, key, folder)
    return folder


def check_links(table: Table, key: str, folder: Path) -> None:
    """Refuse symlinks inside an overlay that point outside it."""
    root = folder.resolve()
    for path in walk(folder):
        if path.is_symlink():
            target = (path.parent / os.readlink(path)).resolve()
            if not target.is_relative_to(root):
                table.fail(key, f"holds the symlink {path} pointing outside the "
                           f"overlay, to {os.readlink(path)}",
                           "copy the file into the overlay instead")


def walk(folder: Path) -> Iterator[Path]:
    """Yield every file and symlink under `folder`, sorted, never following links."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        base = Path(root)
        for name in dirs:
            if (base / name).is_symlink():
                yield base / name
        for name in sorted(files):
            yield base / name


def fingerprint(folder: Path | None) -> str:
    """Hash the overlay's paths, modes and contents (no absolute path)."""
    digest = hashlib.sha256()
    if folder is None:
        return digest.hexdigest()
    for path in walk(folder):
        relative = path.relative_to(folder).as_posix()
        digest.update(f"{relative}\0{_kind(path)}\0".encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        else:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        digest.update(b"\0")
    return digest.hexdigest()


def _kind(path: Path) -> str:
    """Name a file's git-visible mode: link, executable or plain."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return "link"
    return "exec" if mode & stat.S_IXUSR else "file"


def lay(folder: Path | None, workspace: Path) -> None:
    """Copy the overlay over the workspace, keeping modes and symlinks."""
    if folder is None:
        return
    for path in walk(folder):
        target = workspace / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_file():
            target.unlink()
        if path.is_symlink():
            target.symlink_to(os.readlink(path))
        else:
            shutil.copy2(path, target)
