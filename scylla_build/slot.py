"""Agent slots: at most `max_concurrent_agents` agents at once, whatever `-n` is.

Each slot is a lock file under `.scylla/slots/`; an agent holds one while its
process runs. The operating system releases the lock of a process that dies,
so a killed build leaves no slot taken. Judges take no slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

# How long a call waits between two looks for a free slot; also how soon
# Ctrl-C is noticed at the latest while it waits.
POLL_SECONDS = 0.05


class Slots:
    """A counting semaphore across processes and threads, made of file locks."""

    def __init__(self, folder: Path, count: int, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.folder = folder
        self.count = count
        self.sleep = sleep

    def acquire(self) -> FileLock:
        """Wait for a free slot and return its held lock."""
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            for number in range(self.count):
                lock = FileLock(self.folder / f"agent-{number}.lock", timeout=0)
                try:
                    lock.acquire()
                except Timeout:
                    continue
                return lock
            self.sleep(POLL_SECONDS)
