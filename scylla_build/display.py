"""Showing a build's progress: plain lines for logs, a live bar on a terminal.

The plain display writes doit's `.  task` lines and one line per finished run,
flushed at once so a CI log follows the build. The live display (live.py)
draws a bar and prints each finished run above it; it is imported only for a
terminal, so builds in scripts and CI do not pay for rich.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import IO, Any

from scylla_build.progress import Finish, Progress


def is_terminal(stream: IO[str]) -> bool:
    """Say whether a stream is a terminal that can redraw a live bar."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return interactive and os.environ.get("TERM", "") != "dumb"


class PlainDisplay:
    """Lines only: doit's task lines and one line per finished run."""

    shows_tasks = True

    def __init__(self, stream: IO[str], progress: Progress, title: str) -> None:
        self.stream = stream
        self.progress = progress
        self.title = title
        # With `-P thread`, doit calls the reporter from its worker threads.
        self._lock = threading.RLock()

    def guard(self) -> contextlib.AbstractContextManager[Any]:
        """Return what to hold while changing or reading the progress."""
        return self._lock

    def start(self) -> None:
        """Begin showing the build."""

    def write(self, text: str) -> None:
        """Show a message of doit's."""
        self.stream.write(text)

    def task_started(self, name: str) -> None:
        """Note which task runs now (doit's own line shows it here)."""

    def run_finished(self, finish: Finish) -> None:
        """Show a run that just finished, with the build's counts."""
        with self._lock:
            line = self.progress.finish_line(finish, time.monotonic())
        self.stream.write(line + "\n")
        self.stream.flush()

    def stop(self) -> None:
        """Stop showing the build."""
        self.stream.flush()


def make_display(stream: IO[str], progress: Progress, title: str, *,
                 live: bool) -> PlainDisplay:
    """Return a live display on a terminal when `live` allows it, else a plain one."""
    if not (live and is_terminal(stream)):
        return PlainDisplay(stream, progress, title)
    from scylla_build.live import LiveDisplay  # noqa: PLC0415  # rich only for a terminal

    return LiveDisplay(stream, progress, title)
