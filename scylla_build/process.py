"""Running an agent or judge command in its own process group, with a timeout."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scylla_build.outcome import ProcessOutcome

# After SIGTERM a process group gets this long to exit before SIGKILL.
KILL_GRACE_SECONDS = 2.0
# Each of stdout and stderr keeps this many bytes on disk; the rest is counted
# and dropped, so a command printing gigabytes cannot fill the disk.
OUTPUT_LIMIT_BYTES = 50 * 1024 * 1024
_CHUNK = 64 * 1024
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Invocation:
    """One command to run: arguments, working folder, environment and files."""

    argv: list[str]
    cwd: Path
    env: Mapping[str, str]
    timeout: float
    log_dir: Path
    result_file: Path
    output_limit: int = OUTPUT_LIMIT_BYTES


def invoke(call: Invocation) -> ProcessOutcome:
    """Run the command to completion or timeout; never leave its group behind."""
    call.log_dir.mkdir(parents=True, exist_ok=True)
    call.result_file.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            call.argv, cwd=call.cwd, env=dict(call.env),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
    except OSError as error:
        for name in ("stdout.log", "stderr.log"):
            (call.log_dir / name).write_bytes(b"")
        return ProcessOutcome(None, time.monotonic() - started,
                              start_error=f"{call.argv[0]}: {error.strerror}")
    drains = [_Drain(pipe, call.log_dir / name, call.output_limit)
              for pipe, name in ((child.stdout, "stdout.log"),
                                 (child.stderr, "stderr.log"))]
    timed_out = _wait(child, call.timeout, drains)
    outcome = ProcessOutcome(child.returncode, time.monotonic() - started,
                             timed_out=timed_out,
                             truncated=any(d.dropped for d in drains))
    if child.returncode < 0 and not timed_out:
        outcome.signal = -child.returncode
    outcome.result, outcome.result_error = read_result(call.result_file)
    return outcome


def _wait(child: subprocess.Popen[bytes], timeout: float,
          drains: list[_Drain]) -> bool:
    """Wait for the child; return True if it had to be killed for time."""
    timed_out = False
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(child)
        timed_out = True
    except BaseException:
        # Ctrl-C or SIGTERM reached us: the agent must not outlive the tool.
        kill_group(child)
        raise
    finally:
        _signal_group(child.pid, signal.SIGKILL)  # leftovers the command forked
        for drain in drains:
            drain.finish()
    return timed_out


class _Drain:
    """Copy a pipe to a file in a thread, keeping at most `limit` bytes."""

    def __init__(self, pipe: IO[bytes] | None, path: Path, limit: int) -> None:
        assert pipe is not None  # opened with PIPE
        self.pipe = pipe
        self.path = path
        self.limit = limit
        self.dropped = 0
        self.thread = threading.Thread(target=self._copy, daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        kept = 0
        with self.path.open("wb") as out:
            descriptor = self.pipe.fileno()
            for chunk in iter(lambda: os.read(descriptor, _CHUNK), b""):
                room = max(self.limit - kept, 0)
                out.write(chunk[:room])
                kept += min(len(chunk), room)
                self.dropped += len(chunk) - min(len(chunk), room)
            if self.dropped:
                out.write(f"\n[scylla-build: output cut at {self.limit} bytes; "
                          f"{self.dropped} more bytes dropped]\n".encode())

    def finish(self) -> None:
        """Wait for the copy to end; a pipe held by an escaped process is left."""
        self.thread.join(timeout=KILL_GRACE_SECONDS)
        if not self.thread.is_alive():
            self.pipe.close()


def kill_group(child: subprocess.Popen[bytes]) -> None:
    """Terminate the child's process group, then kill it after a grace period."""
    _signal_group(child.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=KILL_GRACE_SECONDS)
    _signal_group(child.pid, signal.SIGKILL)
    child.wait()


def _signal_group(group: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, number)


def die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its parent dies.

    doit's worker processes outlive a killed main process otherwise, and keep
    their agents running with nobody to record them.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def read_result(path: Path) -> tuple[dict[str, Any], str | None]:
    """Read the JSON object a command may leave; return it and any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as err:
        return {}, f"{path.name} could not be read: {err}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return {}, f"{path.name} is not valid JSON: {err}"
    if not isinstance(value, dict):
        return {}, f"{path.name} must hold a JSON object, found {type(value).__name__}"
    return value, None
