"""The report task: a summary of every recorded run (DESIGN 8)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from doit.dependency import UptodateCalculator

from scylla_build.build import Build
from scylla_build.uptodate import Freshness

log = logging.getLogger(__name__)


def report_task(freshness: Freshness, judge_tasks: list[str]) -> dict[str, Any]:
    """Return the doit task that writes report.md after every judge.

    `doit report` builds it; `doit run` leaves it to the reporter, which
    writes the report at the end of every build that recorded something.
    """
    return {"basename": "report",
            "doc": "summarise every recorded run in report.md",
            "actions": [lambda: write_report(freshness.build)],
            "task_dep": judge_tasks,
            "uptodate": [ReportCheck(freshness)],
            "verbosity": 0}


class ReportCheck(UptodateCalculator):  # type: ignore[misc]  # doit ships no types
    """Up to date while the checkpoint has taken no record since the report."""

    def __init__(self, freshness: Freshness) -> None:
        super().__init__()
        self.freshness = freshness
        self.build = freshness.build
        self.reason = "not checked yet"

    def setup(self, dep_manager: Any, tasks_dict: Any) -> None:
        self.freshness.bind(dep_manager)

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        try:
            self.reason = self._decide()
        except Exception as err:  # doit aborts on any exception from uptodate
            self.reason = f"check failed: {err}"
        return self.reason == "up to date"

    def _decide(self) -> str:
        # A judge that will run (or just ran) in this process changes the
        # records: the checkpoint read at start does not show that yet.
        judged = sum(1 for key in self.build.experiment.run_keys()
                     if self.freshness.judge(key))
        if judged:
            return f"{judged} run(s) to be judged first"
        written = read_stamp(self.build)
        if written.get("revision") != self.build.checkpoint.revision():
            return "runs were recorded since the last report"
        if not report_path(self.build.experiment.results).exists():
            return "report.md missing"
        return "up to date"

    def __repr__(self) -> str:
        return self.reason


def write_report(build: Build) -> dict[str, Any]:
    """Write report.md and remember which checkpoint revision it shows."""
    document = build.checkpoint.reread()
    path = report_path(build.experiment.results)
    path.write_text(_markdown(build.experiment.name, _rows(document["runs"])),
                    encoding="utf-8")
    stamp = {"revision": document.get("revision", 0)}
    _stamp_path(build).write_text(json.dumps(stamp), encoding="utf-8")
    log.info("report written to %s", path)
    return stamp


def read_stamp(build: Build) -> dict[str, Any]:
    """Return what the last report recorded about itself, or {}."""
    try:
        value = json.loads(_stamp_path(build).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _stamp_path(build: Build) -> Path:
    return build.layout.state / "report.json"


def _rows(runs: dict[str, Any]) -> list[tuple[str, str, Counter[str]]]:
    rows = []
    for tier in sorted(runs):
        for subtest in sorted(runs[tier]):
            counts = Counter(entry.get("status", "unknown")
                             for entry in runs[tier][subtest].values())
            rows.append((tier, subtest, counts))
    return rows


def _markdown(name: str, rows: list[tuple[str, str, Counter[str]]]) -> str:
    lines = [f"# {name}", "",
             "| tier | subtest | runs | passed | failed | error | unfinished |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for tier, subtest, counts in rows:
        total = sum(counts.values())
        unfinished = total - counts["passed"] - counts["failed"] - counts["error"]
        lines.append(f"| {tier} | {subtest} | {total} | {counts['passed']} | "
                     f"{counts['failed']} | {counts['error']} | {unfinished} |")
    return "\n".join(lines) + "\n"


def report_path(results: Path) -> Path:
    """Return where the Markdown report is written."""
    return results / "report.md"
