"""The live display: a progress bar on a terminal, drawn with rich.

Each finished run is printed above the bar, and so are the package's log
lines while the bar is up, so nothing tears it.
"""

from __future__ import annotations

import logging
import os
import time
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from scylla_build.display import PlainDisplay, is_terminal
from scylla_build.errors import debugging
from scylla_build.progress import Finish, Progress

PACKAGE_LOGGER = "scylla_build"
STATUS_STYLES = {"passed": "green", "failed": "red", "error": "magenta"}


class LiveDisplay(PlainDisplay):
    """A live bar on a terminal, with each finished run printed above it."""

    shows_tasks = False

    def __init__(self, stream: IO[str], progress: Progress, title: str) -> None:
        super().__init__(stream, progress, title)
        self.current = ""
        self.console = Console(file=stream)
        self._logs = _LogRoute(self.console)
        self.live = Live(console=self.console, get_renderable=self._render,
                         refresh_per_second=4, transient=False,
                         redirect_stdout=False, redirect_stderr=False)

    def start(self) -> None:
        self._logs.attach()
        self.live.start()

    def write(self, text: str) -> None:
        self.console.print(Text(text.rstrip("\n")))

    def task_started(self, name: str) -> None:
        """Show which task runs now."""
        self.current = name

    def run_finished(self, finish: Finish) -> None:
        with self._lock:
            line = Text(f"[{self.progress.done}/{len(self.progress.todo)}] ")
        line.append(finish.describe(), style=STATUS_STYLES.get(finish.status, ""))
        self.console.print(line)

    def stop(self) -> None:
        self.current = ""
        try:
            self.live.stop()
        finally:
            self._logs.detach()
        self.stream.flush()

    def _render(self) -> RenderableType:
        with self._lock:
            progress, now = self.progress, time.monotonic()
            total = len(progress.todo)
            row = Table.grid(padding=(0, 1))
            row.add_row(Text(self.title, style="bold"),
                        ProgressBar(total=max(total, 1), completed=progress.done,
                                    width=30, pulse=total == 0),
                        Text(f"{progress.done}/{total} runs"),
                        _counts(progress), Text(progress.eta_text(now)))
            return Group(row, Text(_status_text(progress, self.current),
                                   style="dim"))


def _counts(progress: Progress) -> Text:
    text = Text()
    for index, status in enumerate(("passed", "failed", "error")):
        text.append(", " if index else "")
        text.append(f"{status} {progress.counts[status]}",
                    style=STATUS_STYLES[status])
    return text


def _status_text(progress: Progress, current: str) -> str:
    parts = []
    if progress.last is not None:
        parts.append(f"last: {progress.last.describe()}")
    if current:
        parts.append(f"now: {current}")
    if progress.up_to_date:
        parts.append(f"{len(progress.up_to_date)} up to date")
    return "  |  ".join(parts) or "checking what is up to date"


class _LogRoute:
    """Send the package's log lines above the bar while it is live.

    The bar and the run lines say what the INFO lines would, so only warnings
    and errors are shown meanwhile (everything with SCYLLA_DEBUG=1). doit's
    `-n` workers are forked from this process and inherit its handlers; they
    write straight to the stream, as they cannot reach the bar.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.owner = os.getpid()
        self.swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
        self.filter = _LiveFilter(self.owner)

    def attach(self) -> None:
        for handler in logging.getLogger(PACKAGE_LOGGER).handlers:
            # Only lines bound for the terminal: a log file stays a log file.
            if isinstance(handler, logging.StreamHandler) and is_terminal(
                    handler.stream):
                stream = _ConsoleStream(self.console, handler.stream, self.owner)
                self.swapped.append((handler, handler.setStream(stream)))
                handler.addFilter(self.filter)

    def detach(self) -> None:
        for handler, stream in self.swapped:
            handler.setStream(stream)
            handler.removeFilter(self.filter)
        self.swapped = []


class _LiveFilter(logging.Filter):
    """Pass warnings and errors; pass all when debugging, but not from workers."""

    def __init__(self, owner: int) -> None:
        super().__init__()
        self.owner = owner
        self.everything = debugging()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return self.everything and os.getpid() == self.owner


class _ConsoleStream:
    """A stream that prints through the live console in the process that owns it."""

    def __init__(self, console: Console, original: Any, owner: int) -> None:
        self.console = console
        self.original = original
        self.owner = owner

    def write(self, text: str) -> int:
        if os.getpid() != self.owner:
            return int(self.original.write(text))
        self.console.print(Text(text.rstrip("\n")), style="dim")
        return len(text)

    def flush(self) -> None:
        if os.getpid() != self.owner:
            self.original.flush()
