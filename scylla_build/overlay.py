"""A subtest's overlay: the files laid over a workspace before the agent starts."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

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
    root = os.path.realpath(folder)
    if not _inside(root, _real(str(experiment_dir))):
        table.fail(key, f"{written!r} resolves outside the experiment folder",
                   "replace the symlink with a real folder")
    check_links(table, key, folder, root)
    return folder


def check_links(table: Table, key: str, folder: Path, root: str) -> None:
    """Refuse symlinks inside an overlay that point outside it (`root`, resolved)."""
    for item in scan(folder):
        if item.link is not None:
            where = os.path.join(folder, item.relative)
            target = os.path.realpath(os.path.join(os.path.dirname(where), item.link))
            if not _inside(target, root):
                table.fail(key, f"holds the symlink {where} pointing outside the "
                           f"overlay, to {item.link}",
                           "copy the file into the overlay instead")


@functools.cache
def _real(path: str) -> str:
    """Resolve a folder that every subtest shares once per process."""
    return os.path.realpath(path)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class OverlayItem(NamedTuple):
    """A file or symlink of an overlay, as git would see it."""

    relative: str  # POSIX path inside the overlay
    kind: str  # "file", "exec" or "link"
    link: str | None  # a symlink's target as written


def scan(folder: Path) -> list[OverlayItem]:
    """List every file and symlink under `folder`, never following links.

    The order is part of every recorded fingerprint: within each folder, links
    to folders, then other files and links, each sorted by name, then each
    subfolder in name order.
    """
    found: list[OverlayItem] = []
    _scan_into(os.fspath(folder), "", found)
    return found


def _scan_into(path: str, prefix: str, found: list[OverlayItem]) -> None:
    with os.scandir(path) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    folders = [entry for entry in entries if entry.is_dir()]
    for entry in folders:
        if entry.is_symlink():
            found.append(_item(entry, prefix))
    for entry in entries:
        if not entry.is_dir():
            found.append(_item(entry, prefix))
    for entry in folders:
        if not entry.is_symlink():
            _scan_into(entry.path, f"{prefix}{entry.name}/", found)


def _item(entry: os.DirEntry[str], prefix: str) -> OverlayItem:
    mode = entry.stat(follow_symlinks=False).st_mode
    if stat.S_ISLNK(mode):
        return OverlayItem(prefix + entry.name, "link", os.readlink(entry.path))
    return OverlayItem(prefix + entry.name,
                       "exec" if mode & stat.S_IXUSR else "file", None)


def walk(folder: Path) -> Iterator[Path]:
    """Yield every file and symlink under `folder` in `scan` order."""
    for item in scan(folder):
        yield folder / item.relative


def fingerprint(folder: Path | None) -> str:
    """Hash the overlay's paths, modes and contents (no absolute path)."""
    digest = hashlib.sha256()
    if folder is None:
        return digest.hexdigest()
    for item in scan(folder):
        digest.update(f"{item.relative}\0{item.kind}\0".encode())
        if item.link is not None:
            digest.update(item.link.encode())
        else:
            with open(os.path.join(folder, item.relative), "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
        digest.update(b"\0")
    return digest.hexdigest()


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
