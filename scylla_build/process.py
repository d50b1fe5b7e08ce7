"""Running an agent or judge command in its own process group, with a timeout."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scylla_build.outcome import ProcessOutcome

# After SIGTERM a process group gets this long to exit before SIGKILL.
KILL_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Invocation:
    """One command to run: arguments, working folder, environment and files."""

    argv: list[str]
    cwd: Path
    env: Mapping[str, str]
    timeout: float
    log_dir: Path
    result_file: Path


def invoke(call: Invocation) -> ProcessOutcome:
    """Run the command to completion or timeout; never leave its group behind."""
    call.log_dir.mkdir(parents=True, exist_ok=True)
    call.result_file.unlink(missing_ok=True)
    started = time.monotonic()
    with (call.log_dir / "stdout.log").open("wb") as out, \
            (call.log_dir / "stderr.log").open("wb") as err:
        try:
            child = subprocess.Popen(
                call.argv, cwd=call.cwd, env=dict(call.env),
                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True)
        except OSError as error:
            return ProcessOutcome(None, time.monotonic() - started,
                                  start_error=f"{call.argv[0]}: {error.strerror}")
        timed_out = _wait(child, call.timeout)
    duration = time.monotonic() - started
    outcome = ProcessOutcome(child.returncode, duration, timed_out=timed_out)
    if child.returncode < 0 and not timed_out:
        outcome.signal = -child.returncode
    outcome.result, outcome.result_error = read_result(call.result_file)
    return outcome


def _wait(child: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for the child; return True if it had to be killed for time."""
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(child)
        return True
    except BaseException:
        # Ctrl-C or SIGTERM reached us: the agent must not outlive the tool.
        kill_group(child)
        raise
    _signal_group(child.pid, signal.SIGKILL)  # leftovers the command forked
    return False


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
