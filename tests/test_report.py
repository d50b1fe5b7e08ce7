"""The report: numbers checked against hand-made run records, and rebuilds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from scylla_build.build import Build, open_build
from scylla_build.experiment import load_experiment
from scylla_build.report import PLOT_NAMES, report_files, write_report
from tests.conftest import MakeExperiment, TestExperiment, listed_status

# Hand-made records of the conftest experiment with runs = 4. Each value is
# (status, attempt, agent duration, usage reported to $SCYLLA_AGENT_RESULT).
USAGE = {"cost_usd": 0.25, "input_tokens": 1000, "output_tokens": 50}
FIXTURE: dict[str, tuple[str, int, float | None, dict[str, Any] | None]] = {
    "T0:s00:1": ("passed", 1, 10.0, USAGE),
    "T0:s00:2": ("failed", 1, 20.0, USAGE),
    "T0:s00:3": ("failed", 1, 30.0, USAGE),
    "T0:s00:4": ("error", 1, 0.5, None),
    "T1:s01:1": ("passed", 2, 12.0, {"cost_usd": 1.5, "input_tokens": 2000}),
    "T1:s01:2": ("passed", 1, 14.0, None),
    "T1:s01:3": ("passed", 3, 16.0, None),
    "T1:s01:4": ("running", 2, None, None),
    "T1:s02:1": ("failed", 1, 50.0, None),
    "T1:s02:2": ("agent_complete", 1, 60.0, None),
    # T1:s02:3 and T1:s02:4 were never started.
}

# Worked out by hand. Pass rate = passed / (passed + failed); the intervals
# are Wilson's, solved independently (see test_summary.py): 1 of 3 is
# 6.1-79.2%, 3 of 3 is 43.9-100%, 0 of 1 is 0-79.3%, 3 of 4 is 30.1-95.4%,
# 4 of 7 is 25.0-84.2%. Medians: T0:s00 of 0.5, 10, 20, 30 is 15.0.
EXPECTED_TABLE = [
    "| (all) | (all) | 12 | 4 | 3 | 1 | 4 | 57.1% | 25.0-84.2% | 16.0 | 2.2500 "
    "| 5,000 | 150 |",
    "| T0 | (all) | 4 | 1 | 2 | 1 | 0 | 33.3% | 6.1-79.2% | 15.0 | 0.7500 "
    "| 3,000 | 150 |",
    "| T0 | s00 | 4 | 1 | 2 | 1 | 0 | 33.3% | 6.1-79.2% | 15.0 | 0.7500 "
    "| 3,000 | 150 |",
    "| T1 | (all) | 8 | 3 | 1 | 0 | 4 | 75.0% | 30.1-95.4% | 16.0 | 1.5000 "
    "| 2,000 | - |",
    "| T1 | s01 | 4 | 3 | 0 | 0 | 1 | 100.0% | 43.9-100.0% | 14.0 | 1.5000 "
    "| 2,000 | - |",
    "| T1 | s02 | 4 | 0 | 1 | 0 | 3 | 0.0% | 0.0-79.3% | 55.0 | - | - | - |",
]


def write_fixture(exp: TestExperiment) -> Build:
    """Write FIXTURE as the experiment's checkpoint and agent results."""
    runs: dict[str, Any] = {}
    for key, (status, attempt, duration, usage) in FIXTURE.items():
        tier, subtest, number = key.split(":")
        entry: dict[str, Any] = {"status": status, "attempt": attempt}
        if duration is not None:
            entry["agent_duration"] = duration
        runs.setdefault(tier, {}).setdefault(subtest, {})[number] = entry
        if usage is not None:
            agent = exp.results / tier / subtest / f"run_{int(number):02d}" / "agent"
            agent.mkdir(parents=True)
            (agent / "result.json").write_text(json.dumps(usage))
    document = {"version": 1, "experiment": "demo", "commit": None,
                "revision": 42, "runs": runs, "signatures": {}}
    (exp.results / "checkpoint.json").write_text(json.dumps(document))
    return open_build(load_experiment(exp.file, cwd=exp.project))


def section(text: str, heading: str) -> list[str]:
    """Return the lines under a `## heading` up to the next heading."""
    lines = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in lines.splitlines() if line]


def test_report_numbers_match_hand_made_records(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=4)
    exp.results.mkdir(parents=True)
    stamp = write_report(write_fixture(exp))
    assert stamp == {"revision": 42}
    text = (exp.results / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[2:] == EXPECTED_TABLE, "\n".join(rows)
    assert section(text, "Passed only on a later attempt") == [
        "- attempt 2: T1:s01:1", "- attempt 3: T1:s01:3"]
    assert section(text, "Never completed") == [
        "- agent_complete: T1:s02:2", "- not started: T1:s02:3-4",
        "- running: T1:s01:4"]
    for name in PLOT_NAMES:
        assert f"]({name})" in text
        assert (exp.results / name).read_bytes().startswith(b"\x89PNG")


def test_report_html_holds_everything_it_shows(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=4)
    exp.results.mkdir(parents=True)
    write_report(write_fixture(exp))
    page = (exp.results / "report.html").read_text()
    for row in EXPECTED_TABLE:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert "".join(f"<td>{cell}</td>" for cell in cells) in page
    assert page.count('src="data:image/png;base64,') == 2
    # Self-contained: apart from the inlined images, nothing points elsewhere.
    text = re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', "", page)
    for reference in ("src=", "href=", "url(", "@import", "//"):
        assert reference not in text


def modified(results: Path) -> dict[str, int]:
    """Return the modification time of every report file."""
    return {path.name: path.stat().st_mtime_ns for path in report_files(results)}


def test_report_rebuilds_only_when_a_run_is_recorded(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1, s02_mode="pass")
    assert exp.doit().returncode == 0
    first = modified(exp.results)
    assert listed_status(exp.doit("list", "--status").stdout)["report"] == "U"

    again = exp.doit()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "report written" not in again.stderr
    assert modified(exp.results) == first
    assert ".  report" not in exp.doit("report").stdout

    assert exp.doit("forget", "judge:T1:s01:1").returncode == 0
    # Nothing is recorded yet: the report still shows the records as they are.
    assert listed_status(exp.doit("list", "--status").stdout)["report"] == "U"
    rebuilt = exp.doit()
    assert "report written" in rebuilt.stderr
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    after = modified(exp.results)
    assert all(after[name] != first[name] for name in first), (first, after)
    assert listed_status(exp.doit("list", "--status").stdout)["report"] == "U"


def test_report_command_starts_no_agent(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    assert exp.doit().returncode == 1  # s02 fails and rerun_failed is true
    exp.calls()
    exp.file.write_text(exp.file.read_text() + "\n")  # any recorded run stays
    assert exp.doit("forget", "run:T0:s00:1").returncode == 0
    done = exp.doit("report")
    assert done.returncode == 0, done.stdout + done.stderr
    assert exp.calls() == []
