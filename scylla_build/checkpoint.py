"""The checkpoint: the durable ledger of run outcomes (DESIGN 4 and 7)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from filelock import FileLock

from scylla_build.errors import ScyllaError
from scylla_build.layout import ResultsLayout, RunKey

log = logging.getLogger(__name__)

VERSION = 1
_THREAD_LOCK = threading.Lock()

Entry = dict[str, Any]


class Checkpoint:
    """Read the ledger once; write it atomically under a cross-process lock."""

    def __init__(self, layout: ResultsLayout, experiment: str, commit: str) -> None:
        self.path = layout.checkpoint
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

    def signature_parts(self, digest: str) -> dict[str, str] | None:
        """Return the parts recorded for a signature digest, if any."""
        parts: dict[str, str] | None = self.document()["signatures"].get(digest)
        return parts

    def fresh_entry(self, key: RunKey) -> Entry | None:
        """Read a run's entry from disk now, bypassing the cache."""
        self._cache = None
        return self.entry(key)

    def record(self, key: RunKey, fields: Mapping[str, Any], *,
               replace: bool = False,
               signatures: Mapping[str, Mapping[str, str]] | None = None) -> Entry:
        """Merge `fields` into a run's entry (or replace it) and write atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCK, FileLock(self.lock_path):
            document = self._read()
            tier = document["runs"].setdefault(key.tier, {})
            runs = tier.setdefault(key.subtest, {})
            entry = {} if replace else dict(runs.get(str(key.number), {}))
            entry.update(fields)
            runs[str(key.number)] = entry
            for digest, parts in (signatures or {}).items():
                document["signatures"][digest] = dict(parts)
            document["experiment"] = self.experiment
            document["commit"] = self.commit
            self._write(document)
            self._cache = document
            return entry

    def _read(self) -> dict[str, Any]:
        empty: dict[str, Any] = {"version": VERSION, "experiment": self.experiment,
                                 "commit": None, "runs": {}, "signatures": {}}
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
            raise ScyllaError(
                f"{self.path} has version {document.get('version')!r}, this tool "
                f"reads version {VERSION}; upgrade scylla-build or move the file "
                "away to rebuild every run")
        document.setdefault("signatures", {})
        return {**empty, **document}

    def _write(self, document: dict[str, Any]) -> None:
        """Write, fsync and rename, so a reader sees the old or the new file."""
        self._remove_stale_temporaries()
        temporary = self.path.with_name(
            f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        data = json.dumps(document, indent=1, sort_keys=True).encode()
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _remove_stale_temporaries(self) -> None:
        # Called under the lock: no other writer is mid-write, so any
        # temporary file here was left by a writer that was killed.
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            log.warning("removing %s left by a killed writer", stale)
            stale.unlink(missing_ok=True)
