"""The checkpoint: the durable ledger of run outcomes (DESIGN 4 and 7).

`checkpoint.json` is a snapshot, always replaced atomically (write, fsync,
rename). Between snapshots, records are appended to `checkpoint.journal`, one
JSON line each, fsynced, so a write costs the same at 10 runs or 10,000. A
reader applies the journal over the snapshot; a line torn by a kill is
skipped. The journal is folded into the snapshot when a build starts and ends,
and whenever it outgrows the snapshot, which keeps that cost amortised.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from scylla_build.errors import ScyllaError
from scylla_build.layout import ResultsLayout, RunKey

log = logging.getLogger(__name__)

VERSION = 1
# Fold the journal into the snapshot once it is larger than the snapshot and
# at least this large: rewriting the snapshot then costs O(1) per record.
MIN_FOLD_BYTES = 256 * 1024
_THREAD_LOCK = threading.Lock()
# How many levels of these fields get a line per key: tier, subtest, run.
_NESTED_LEVELS = {"runs": 3, "signatures": 1}

Entry = dict[str, Any]


class Checkpoint:
    """Read the ledger once per process; append records under a shared lock."""

    def __init__(self, layout: ResultsLayout, experiment: str, commit: str) -> None:
        self.path = layout.checkpoint
        self.journal = layout.root / "checkpoint.journal"
        self.lock_path = layout.state / "checkpoint.lock"
        self.experiment = experiment
        self.commit = commit
        self._cache: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        """Return the whole ledger, read from disk on first use only."""
        if self._cache is None:
            self._cache = self._read()
        return self._cache

    def entry(self, key: RunKey) -> Entry | None:
        """Return the recorded entry of a run, as first read."""
        runs = self.document()["runs"]
        found: Entry | None = (runs.get(key.tier, {}).get(key.subtest, {})
                               .get(str(key.number)))
        return found

    def revision(self) -> int:
        """Return how many records the ledger has taken, ever."""
        return int(self.document().get("revision", 0))

    def reread(self) -> dict[str, Any]:
        """Read the ledger from disk again and return it."""
        self._cache = None
        return self.document()

    def signature_parts(self, digest: str) -> dict[str, str] | None:
        """Return the parts recorded for a signature digest, if any."""
        parts: dict[str, str] | None = self.document()["signatures"].get(digest)
        return parts

    def record(self, key: RunKey, fields: Mapping[str, Any], *,
               replace: bool = False,
               signatures: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Append a change to one run's entry: merged into it, or replacing it."""
        line = {"run": str(key), "fields": dict(fields), "replace": replace,
                "signatures": {k: dict(v) for k, v in (signatures or {}).items()}}
        self._append(line)

    def record_facts(self, facts: Mapping[str, Any]) -> None:
        """Set top-level facts about the whole build, e.g. a pause; None drops one."""
        self._append({"facts": dict(facts)})

    def _append(self, line: dict[str, Any]) -> None:
        data = (json.dumps(line, sort_keys=True) + "\n").encode()
        with self._locked():
            with self.journal.open("ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if self._journal_outgrew_snapshot():
                self._fold()

    def fold(self) -> None:
        """Fold the journal into a new snapshot and remove killed writers' files."""
        if not self.path.parent.is_dir():
            return
        with self._locked():
            self._remove_stale_temporaries()
            if self.journal.exists():
                self._fold()

    def _locked(self) -> Any:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        return _Both(FileLock(self.lock_path))

    def _journal_outgrew_snapshot(self) -> bool:
        journal = self.journal.stat().st_size
        try:
            snapshot = self.path.stat().st_size
        except FileNotFoundError:
            snapshot = 0
        return journal > max(snapshot, MIN_FOLD_BYTES)

    def _fold(self) -> None:
        """Write snapshot plus journal as the new snapshot, then drop the journal.

        A kill between the two leaves records that are applied again on the
        next read; each sets absolute values, so applying twice is harmless.
        """
        document = self._read()
        self._write(document)
        self.journal.unlink(missing_ok=True)
        self._cache = document

    def _read(self) -> dict[str, Any]:
        document = self._read_snapshot()
        for change in _journal_lines(self.journal):
            _apply(document, change)
        document["experiment"] = self.experiment
        if document.get("commit") is None:
            document["commit"] = self.commit
        return document

    def _read_snapshot(self) -> dict[str, Any]:
        empty: dict[str, Any] = {"version": VERSION, "experiment": self.experiment,
                                 "commit": None, "revision": 0, "runs": {},
                                 "signatures": {}}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return empty
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise ScyllaError(
                f"{self.path} is not valid JSON ({err}); it was not written by "
                "this tool's atomic writer. Restore it from a backup, or move it "
                "away to rebuild every run") from err
        if not isinstance(document, dict) or document.get("version") != VERSION:
            found = document.get("version") if isinstance(document, dict) else None
            raise ScyllaError(
                f"{self.path} has version {found!r}, this tool reads version "
                f"{VERSION}; upgrade scylla-build or move the file away to "
                "rebuild every run")
        return {**empty, **document}

    def _write(self, document: dict[str, Any]) -> None:
        """Write, fsync and rename, so a reader sees the old or the new file."""
        document["commit"] = self.commit
        temporary = self.path.with_name(
            f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        data = render(document).encode()
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        _fsync_folder(self.path.parent)

    def _remove_stale_temporaries(self) -> None:
        # Called under the lock: no other writer is mid-write, so any
        # temporary file here was left by a writer that was killed.
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            log.warning("removing %s left by a killed writer", stale)
            stale.unlink(missing_ok=True)


class _Both:
    """Hold the in-process lock and the cross-process file lock together."""

    def __init__(self, file_lock: FileLock) -> None:
        self.file_lock = file_lock

    def __enter__(self) -> None:
        _THREAD_LOCK.acquire()
        try:
            self.file_lock.acquire()
        except BaseException:
            _THREAD_LOCK.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            self.file_lock.release()
        finally:
            _THREAD_LOCK.release()


def _journal_lines(journal: Path) -> list[dict[str, Any]]:
    try:
        raw = journal.read_bytes()
    except FileNotFoundError:
        return []
    changes = []
    for line in raw.splitlines():
        try:
            changes.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("skipping a torn line in %s", journal)
    return changes


def _apply(document: dict[str, Any], change: dict[str, Any]) -> None:
    if "facts" in change:
        # Build-level facts change no run, so they leave the revision alone.
        for name, value in change["facts"].items():
            if value is None:
                document.pop(name, None)
            else:
                document[name] = value
        return
    key = RunKey.parse(change["run"])
    runs = document["runs"].setdefault(key.tier, {}).setdefault(key.subtest, {})
    entry = {} if change.get("replace") else dict(runs.get(str(key.number), {}))
    entry.update(change["fields"])
    runs[str(key.number)] = {k: v for k, v in entry.items() if v is not None}
    document["revision"] = document.get("revision", 0) + 1
    document["signatures"].update(change.get("signatures", {}))


def render(document: Mapping[str, Any]) -> str:
    """Lay the ledger out as JSON with one run per line, keys sorted.

    json's `indent` makes it fall back from its C encoder to pure Python,
    three times slower on a ledger of 10,000 runs; the levels above a run are
    laid out here and each run is encoded in one call, on its own line.
    """
    fields = ",\n".join(
        f" {json.dumps(name)}: {_layout(value, _NESTED_LEVELS.get(name, 0), 1)}"
        for name, value in sorted(document.items()))
    return "{\n" + fields + "\n}\n"


def _layout(value: Any, levels: int, depth: int) -> str:
    if levels == 0 or not isinstance(value, dict) or not value:
        return json.dumps(value, sort_keys=True)
    pad = " " * (depth + 1)
    fields = ",\n".join(
        f"{pad}{json.dumps(name)}: {_layout(item, levels - 1, depth + 1)}"
        for name, item in sorted(value.items()))
    return "{\n" + fields + "\n" + " " * depth + "}"


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
