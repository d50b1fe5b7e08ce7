"""Whole-process measurements: wall time and peak memory of one command.

Peak memory comes from GNU time (`/usr/bin/time -f %M`): a child forked from
this Python process inherits its high-water mark of resident memory (about
30 MB once doit and the package are imported), so `wait4` or RUSAGE_CHILDREN
here would report at least that much for any command. GNU time is a small C
program whose own child starts from almost nothing. Without it, `wait4` is
used and the figures carry this process's size as a floor.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
DOIT = str(VENV_BIN / "doit")
PYTHON = sys.executable
GNU_TIME = "/usr/bin/time"


def positive(text: str) -> int:
    """An argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not above zero")
    return value


def require_venv() -> None:
    """Stop with advice unless this Python has the package and doit beside it."""
    if importlib.util.find_spec("scylla_build") is None or not os.access(DOIT, os.X_OK):
        raise SystemExit(
            f"{PYTHON} has no scylla_build or no doit beside it; run the benchmarks "
            "with the test environment's Python, e.g. .venv/bin/python "
            "bench/noop.py (set it up with the README's test command)")


class CommandFailed(RuntimeError):
    """A measured command exited non-zero when it was expected to succeed."""


@dataclass(frozen=True)
class Sample:
    """One execution of a command: wall seconds, peak RSS and exit code."""

    seconds: float
    max_rss_kb: int
    returncode: int


@dataclass(frozen=True)
class Figure:
    """The median of several samples of the same command."""

    seconds: float
    max_rss_kb: int
    samples: tuple[Sample, ...]

    @property
    def fastest(self) -> float:
        """The least time, less skewed by other work on a busy machine."""
        return min(sample.seconds for sample in self.samples)

    @property
    def rss_mb(self) -> float:
        return self.max_rss_kb / 1024


def run_once(argv: Sequence[str], *, cwd: Path,
             env: Mapping[str, str] | None = None,
             timeout: float | None = None) -> Sample:
    """Run a command that must succeed, with its output in a file; measure it.

    After `timeout` seconds the command's whole process group is killed (doit
    and its `-n` workers, not the agents, which run in sessions of their own)
    and CommandFailed is raised, so a hung build cannot hang the benchmark.
    """
    with tempfile.TemporaryDirectory(prefix="scylla-bench-run-") as folder:
        rss_file = Path(folder) / "rss"
        prefix = ([GNU_TIME, "-f", "%M", "-o", str(rss_file)]
                  if os.access(GNU_TIME, os.X_OK) else [])
        with (Path(folder) / "output").open("w+b") as output:
            started = time.perf_counter()
            child = subprocess.Popen([*prefix, *argv], cwd=cwd,
                                     env=dict(env or os.environ),
                                     stdin=subprocess.DEVNULL, stdout=output,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
            status, usage, timed_out = _wait(child, timeout)
            seconds = time.perf_counter() - started
            if status != 0 or timed_out:
                output.seek(0)
                tail = output.read()[-3000:].decode(errors="replace")
                problem = (f"was killed after {timeout} s" if timed_out
                           else f"exited {status}")
                raise CommandFailed(f"{' '.join(argv)} in {cwd} {problem}:\n{tail}")
        rss = _read_rss(rss_file) if prefix else usage.ru_maxrss
    return Sample(seconds, rss, status)


def _wait(child: subprocess.Popen[bytes],
          timeout: float | None) -> tuple[int, resource.struct_rusage, bool]:
    """Reap the child with wait4, killing its group if it outlives `timeout`."""
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
    except BaseException:
        # Ctrl-C or SIGTERM: the child runs in a session of its own, out of
        # reach of the terminal's signal, so it goes with the benchmark.
        kill()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child.pid, 0)
        raise
    finally:
        if timer:
            timer.cancel()
    # wait4 reaped the child; tell Popen so it does not wait again.
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, usage, expired.is_set()


def _read_rss(path: Path) -> int:
    # GNU time puts "Command exited with non-zero status N" before the value.
    return int(path.read_text().split()[-1])


def begin() -> None:
    """Start a benchmark: check the Python, take SIGTERM, name code and machine."""
    require_venv()
    stop_on_sigterm()
    print(code_line(), flush=True)
    print(machine_line("start"), flush=True)


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C.

    The running command is then killed and the temporary folder deleted.
    """
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)


def figure_of(samples: Sequence[Sample]) -> Figure:
    """Return the medians of time and memory of some samples."""
    return Figure(statistics.median(s.seconds for s in samples),
                  int(statistics.median(s.max_rss_kb for s in samples)),
                  tuple(samples))


def output_of(argv: Sequence[str], *, cwd: Path) -> str:
    """Run a command that must succeed and return its standard output."""
    done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} in {cwd} exited "
                            f"{done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def progress(message: str) -> None:
    """Say what is happening on stderr, so stdout holds only figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine_line(when: str) -> str:
    """Describe the machine's cores and load, which other work may raise."""
    one, five, fifteen = os.getloadavg()
    return (f"machine: {os.cpu_count()} cores, load average {one:.2f} "
            f"{five:.2f} {fifteen:.2f} at {when} (other processes skew figures)")


def code_line() -> str:
    """Name the package's commit and its uncommitted changes, which others edit."""
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                          capture_output=True, text=True, check=False)
    changed = subprocess.run(["git", "status", "--porcelain", "scylla_build"],
                             cwd=root, capture_output=True, text=True, check=False)
    files = len(changed.stdout.splitlines())
    return (f"code: scylla_build at {head.stdout.strip() or 'unknown'}"
            f"{f' plus {files} uncommitted file(s)' if files else ''}")


def ratio(value: float, baseline: float) -> str:
    """Format value / baseline, e.g. '3.21x'; 'n/a' when either is not positive."""
    if baseline <= 0 or value < 0:
        return "n/a"
    return f"{value / baseline:.2f}x"


def seconds_text(value: float) -> str:
    """Format a duration with a unit that keeps three significant digits."""
    if value < 1e-3:
        return f"{value * 1e6:.1f} us"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"
