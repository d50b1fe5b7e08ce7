"""The report task: report.md, report.html and plots of every recorded run.

Written in the results folder, rebuilt only when the checkpoint took a record
since the last report (DESIGN 8).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from doit.dependency import UptodateCalculator

from scylla_build.build import Build
from scylla_build.page import html_page
from scylla_build.record import RunRecord, read_records, with_missing
from scylla_build.summary import Summary, summary_of
from scylla_build.table import (
    HEADINGS,
    RATE_NOTE,
    cells,
    later_pass_lines,
    unfinished_lines,
)

log = logging.getLogger(__name__)

PASS_RATE_CAPTION = "Pass rate by tier and subtest, with 95% intervals"
DURATION_CAPTION = "Agent duration by tier"
PLOT_NAMES = ("report-pass-rate.png", "report-agent-duration.png")


def report_task(build: Build) -> dict[str, Any]:
    """Return the doit task that writes the report from the records as they are.

    It depends on no run: `doit report` must never start an agent (they cost
    money). A build writes the report itself at its end, through the
    reporter, whenever it recorded something.
    """
    return {"basename": "report",
            "doc": "summarise every recorded run in report.md and report.html",
            "actions": [lambda: write_report(build)],
            "uptodate": [ReportCheck(build)],
            "verbosity": 0}


class ReportCheck(UptodateCalculator):  # type: ignore[misc]  # doit ships no types
    """Up to date while the checkpoint has taken no record since the report."""

    def __init__(self, build: Build) -> None:
        super().__init__()
        self.build = build
        self.reason = "not checked yet"

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        try:
            self.reason = self._decide()
        except Exception as err:  # doit aborts on any exception from uptodate
            self.reason = f"check failed: {err}"
        return self.reason == "up to date"

    def _decide(self) -> str:
        written = read_stamp(self.build)
        if written.get("revision") != self.build.checkpoint.revision():
            return "runs were recorded since the last report"
        for path in report_files(self.build.experiment.results):
            if not path.exists():
                return f"{path.name} missing"
        return "up to date"

    def __repr__(self) -> str:
        return self.reason


def write_report(build: Build) -> dict[str, Any]:
    """Write report.md, report.html and their plots; remember the revision shown."""
    _remove_temporaries(build)
    document = build.checkpoint.reread()
    records = with_missing(read_records(build.layout, document["runs"]),
                           build.experiment.run_keys())
    summary = summary_of(records)
    title = f"Report: {build.experiment.name}"
    subtitle = _subtitle(document, records)
    images = _plots(summary)
    results = build.experiment.results
    files = {results / name: png for name, png in
             zip(PLOT_NAMES, images.values(), strict=True)}
    files[report_path(results)] = _markdown(title, subtitle, summary).encode()
    files[html_path(results)] = html_page(title, subtitle, summary, images).encode()
    for path, data in files.items():
        _replace(build, path, data)
    stamp = {"revision": document.get("revision", 0)}
    _stamp_path(build).write_text(json.dumps(stamp), encoding="utf-8")
    log.info("report written to %s and %s", report_path(results),
             html_path(results).name)
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


def _plots(summary: Summary) -> dict[str, bytes]:
    """Draw the plots, captioned; matplotlib is loaded only here."""
    from scylla_build import plot  # noqa: PLC0415  # matplotlib costs ~0.4 s to load

    return {PASS_RATE_CAPTION: plot.pass_rate_png(summary.rows),
            DURATION_CAPTION: plot.duration_png(summary.records)}


def _subtitle(document: dict[str, Any], records: list[RunRecord]) -> str:
    commit = str(document.get("commit") or "unknown")[:12]
    return (f"Commit {commit}, {len(records)} runs, checkpoint revision "
            f"{document.get('revision', 0)}.")


def _markdown(title: str, subtitle: str, summary: Summary) -> str:
    lines = [f"# {title}", "", subtitle, "",
             "| " + " | ".join(HEADINGS) + " |",
             "| " + " | ".join("---" for _ in HEADINGS) + " |"]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in summary.rows]
    lines += ["", RATE_NOTE]
    for heading, items in (("Passed only on a later attempt",
                            later_pass_lines(summary)),
                           ("Never completed", unfinished_lines(summary))):
        lines += ["", f"## {heading}", ""]
        lines += [f"- {item}" for item in items] or ["None."]
    lines += ["", "## Plots", ""]
    lines += [f"![{caption}]({name})" for caption, name in
              zip((PASS_RATE_CAPTION, DURATION_CAPTION), PLOT_NAMES, strict=True)]
    return "\n".join(lines) + "\n"


def _remove_temporaries(build: Build) -> None:
    # The caller holds the build lock: a temporary here was left by a kill.
    build.layout.state.mkdir(parents=True, exist_ok=True)
    for stale in build.layout.state.glob("report*.tmp"):
        stale.unlink(missing_ok=True)


def _replace(build: Build, path: Path, data: bytes) -> None:
    """Write a file whole, so a reader or a kill never leaves half of it."""
    temporary = build.layout.state / f"{path.name}.{os.getpid()}.tmp"
    temporary.write_bytes(data)
    os.replace(temporary, path)


def report_path(results: Path) -> Path:
    """Return where the Markdown report is written."""
    return results / "report.md"


def html_path(results: Path) -> Path:
    """Return where the HTML report is written."""
    return results / "report.html"


def report_files(results: Path) -> list[Path]:
    """Return every file the report writes."""
    return [report_path(results), html_path(results),
            *(results / name for name in PLOT_NAMES)]
