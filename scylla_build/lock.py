"""One `doit run` per results folder: an exclusive lock that names its holder."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from filelock import FileLock, Timeout

from scylla_build.errors import LockHeldError

log = logging.getLogger(__name__)

# How long a refused build waits for the holder's pid file to name it.
HOLDER_WAIT_SECONDS = 1.0


class BuildLock:
    """An OS file lock (released by the kernel if its holder dies) plus a pid file."""

    def __init__(self, path: Path, results: Path) -> None:
        self.results = results
        self.pid_file = path.with_suffix(".pid")
        self._lock = FileLock(path, timeout=0)

    def acquire(self) -> None:
        """Take the lock at once or raise LockHeldError naming the holder."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout as err:
            holder = self._live_holder() or "unknown"
            raise LockHeldError(
                f"another doit run (process {holder}) is building {self.results}; "
                "wait for it to finish or stop it, then run doit again") from err
        previous = self._holder()
        if previous is not None and previous != os.getpid() and _alive(previous):
            log.warning("lock on %s was recorded for live process %d; its "
                        "lock was released, taking over", self.results, previous)
        elif previous is not None and previous != os.getpid():
            log.warning("taking over the lock on %s left by dead process %d",
                        self.results, previous)
        self.pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")

    @property
    def held(self) -> bool:
        """Say whether this process holds the lock."""
        return bool(self._lock.is_locked)

    def release(self) -> None:
        """Drop the lock if this process holds it."""
        if self._lock.is_locked:
            self.pid_file.unlink(missing_ok=True)
            self._lock.release()

    def _live_holder(self) -> int | None:
        """Return the holder's pid, waiting a moment for a live one to appear.

        The holder writes its pid just after it takes the lock, so a build
        started in the same instant can find no pid file yet, or a stale one
        left by a killed build.
        """
        deadline = time.monotonic() + HOLDER_WAIT_SECONDS
        holder = self._holder()
        while (holder is None or not _alive(holder)) and time.monotonic() < deadline:
            time.sleep(0.01)
            holder = self._holder()
        return holder if holder is not None and _alive(holder) else None

    def _holder(self) -> int | None:
        try:
            return int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
