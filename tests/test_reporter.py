"""The progress reporter: a live bar on a terminal, plain lines in a file."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace

from scylla_build.layout import RunKey
from scylla_build.reporter import run_scope
from tests.conftest import (
    DOIT,
    BuiltExample,
    copy_example,
    executed_tasks,
    up_to_date_runs,
)

# What experiments/hello-world/README.md promises for each subtest.
VERDICTS = {"T0:s00": "failed", "T1:s01": "passed", "T1:s02": "failed"}
EXAMPLE_RUNS = {f"{sub}:{n}": status for sub, status in VERDICTS.items()
                for n in (1, 2, 3)}
FINISH_LINE = re.compile(
    r"\[(?P<done>\d+)/9\] (?P<key>T\d:s\d\d:\d) (?P<status>passed|failed) in "
    r"\d+\.\ds \| passed (?P<passed>\d+), failed (?P<failed>\d+), error 0 \| "
    r"(?P<left>about [\d.]+s left|all 9 done)")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_piped_build_writes_one_plain_line_per_finished_run(
        built_example: BuiltExample) -> None:
    output = built_example.output
    assert "\x1b" not in output, "escape codes in a file"
    assert len(executed_tasks(output)) == 27  # doit's `.  task` lines stay
    lines = [FINISH_LINE.fullmatch(line) for line in output.splitlines()
             if line.startswith("[")]
    assert None not in lines, output
    matches = [match for match in lines if match is not None]
    assert {m["key"]: m["status"] for m in matches} == EXAMPLE_RUNS
    assert [int(m["done"]) for m in matches] == list(range(1, 10))
    for number, match in enumerate(matches, start=1):
        seen = [EXAMPLE_RUNS[m["key"]] for m in matches[:number]]
        assert int(match["passed"]) == seen.count("passed")
        assert int(match["failed"]) == seen.count("failed")
    assert matches[-1]["left"] == "all 9 done"
    assert all("left" in m["left"] for m in matches[:-1])


def test_second_build_names_every_skipped_run_in_one_line(
        built_example: BuiltExample) -> None:
    again = built_example.doit("--reporter", "scylla-plain")
    assert again.returncode == 0, again.stdout + again.stderr
    skipped = [line for line in again.stdout.splitlines() if line.startswith("--")]
    assert skipped == ["-- 9 runs up to date, workspaces preserved: "
                       "T0:s00:1-3 failed, T1:s01:1-3 passed, T1:s02:1-3 failed"]
    assert up_to_date_runs(again.stdout) == EXAMPLE_RUNS


def run_on_terminal(command: list[str], cwd: Path, timeout: float = 120) -> str:
    """Run a command with a 40x160 pseudo-terminal as stdout; return its bytes."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's last writer closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=10) == 0, b"".join(chunks)[-3000:]
    finally:
        process.kill()
        os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_build_on_a_terminal_shows_a_live_bar_and_counts(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    screen = run_on_terminal([DOIT], project)
    assert "\x1b[1A" in screen, "the bar is never redrawn"
    assert "━" in screen, "no bar drawn"
    text = ANSI.sub("", screen)
    assert "hello-world" in text
    assert "9/9 runs" in text and "passed 3, failed 6, error 0" in text
    assert "all 9 done" in text
    assert "about " in text and "s left" in text
    for key, status in EXAMPLE_RUNS.items():
        assert re.search(rf"\[\d/9\] {key} {status} in \d+\.\ds", text), key
    assert ".  workspace:" not in text  # task lines give way to the bar


def test_reporter_and_command_plugins_are_registered() -> None:
    reporters = {point.name: point.value
                 for point in entry_points(group="doit.REPORTER")}
    assert reporters["scylla"] == "scylla_build.reporter:ExperimentReporter"
    assert reporters["scylla-plain"] == "scylla_build.reporter:PlainReporter"
    commands = {point.name: point.value
                for point in entry_points(group="doit.COMMAND")}
    assert commands["results"] == "scylla_build.results:Results"


def test_run_scope_follows_task_dependencies() -> None:
    def task(*deps: str) -> SimpleNamespace:
        return SimpleNamespace(task_dep=list(deps), setup_tasks=[])
    tasks = {"workspace:T0:s00:1": task(), "run:T0:s00:1": task("workspace:T0:s00:1"),
             "judge:T0:s00:1": task("run:T0:s00:1"), "report": task("judge:T0:s00:1"),
             "workspace:T0:s00:2": task()}
    assert run_scope(tasks, ["run:T0:s00:1"]) == {
        RunKey("T0", "s00", 1): {"workspace", "run"}}
    assert run_scope(tasks, ["report"]) == {
        RunKey("T0", "s00", 1): {"workspace", "run", "judge"}}
