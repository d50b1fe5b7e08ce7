"""`doit results`: a table of an experiment's recorded runs.

A doit command plugin. It loads dodo.py to learn the experiment, then reads
the checkpoint (snapshot and journal) and each run's `agent/result.json`. It
takes no lock and opens no doit database, so it works while a build runs.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from doit.cmd_base import DoitCmdBase
from doit.cmdparse import CmdOption
from doit.exceptions import InvalidCommand

from scylla_build.build import loaded_build
from scylla_build.errors import ScyllaError, debugging
from scylla_build.outcome import Status
from scylla_build.record import RunRecord, read_records

COLUMNS = ("tier", "subtest", "run", "status", "reason", "attempt", "agent s",
           "cost USD", "tokens in", "tokens out")
NUMERIC = frozenset({"run", "attempt", "agent s", "cost USD", "tokens in",
                     "tokens out"})
ABSENT = "-"


def _filter_option(name: str, example: str) -> dict[str, Any]:
    return {"name": name, "long": name, "type": list, "default": [],
            "help": f"show only runs of these {name} values, e.g. --{name} "
                    f"{example}; repeat it or separate values with commas"}


OPTIONS = (
    _filter_option("tier", "T1"),
    _filter_option("subtest", "s01"),
    _filter_option("status", "failed,error"),
    {"name": "json", "long": "json", "type": bool, "default": False,
     "help": "print the runs as a JSON array, for scripts"},
)


class Results(DoitCmdBase):  # type: ignore[misc]  # doit ships no types
    """Show every recorded run: status, reason, attempt, agent time and usage."""

    name = "results"
    doc_purpose = "show a table of the experiment's recorded runs"
    doc_usage = "[--tier T] [--subtest S] [--status S] [--json]"
    doc_description = (
        "Reads checkpoint.json, its journal and each run's agent/result.json; "
        "takes no lock, so it works while `doit run` builds the experiment.")
    cmd_options = OPTIONS

    def get_options(self) -> list[Any]:
        """Offer the loader's options and ours: no doit database is opened."""
        return [CmdOption(option)
                for option in (*self.loader.cmd_options, *self.cmd_options)]

    def execute(self, params: Any, args: Sequence[str]) -> int:
        """Load dodo.py for its experiment and print the table."""
        if args:
            raise InvalidCommand(
                f"doit results takes no task names, found {' '.join(args)}; "
                "filter with --tier, --subtest and --status")
        self.loader.setup(params)
        self.loader.load_doit_config()
        try:
            records = _records(params)
        except ScyllaError as err:
            if debugging():
                raise
            raise InvalidCommand(str(err)) from None
        text = as_json(records) if params["json"] else as_table(records)
        self.outstream.write(text)
        return 0


def _records(params: Any) -> list[RunRecord]:
    build = loaded_build()
    statuses = _values(params["status"])
    known = {status.value for status in Status}
    unknown = sorted(set(statuses) - known)
    if unknown:
        raise ScyllaError(
            f"--status {', '.join(unknown)}: not a run status; use one of "
            f"{', '.join(status.value for status in Status)}")
    document = build.checkpoint.document()
    records = read_records(build.layout, document["runs"])
    tiers, subtests = _values(params["tier"]), _values(params["subtest"])
    known_tiers = {sub.tier for sub in build.experiment.subtests}
    known_subtests = {sub.name for sub in build.experiment.subtests}
    _check_known("tier", tiers, known_tiers | {r.key.tier for r in records})
    _check_known("subtest", subtests,
                 known_subtests | {r.key.subtest for r in records})
    return select(records, tiers=tiers, subtests=subtests, statuses=statuses)


def _check_known(option: str, given: Sequence[str], known: set[str]) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise ScyllaError(
            f"--{option} {', '.join(unknown)}: no such {option} in the experiment "
            f"or its checkpoint; known: {', '.join(sorted(known))}")


def select(records: Iterable[RunRecord], *, tiers: Sequence[str] = (),
           subtests: Sequence[str] = (),
           statuses: Sequence[str] = ()) -> list[RunRecord]:
    """Keep the records that match every filter given (an empty one matches all)."""
    return [record for record in records
            if (not tiers or record.key.tier in tiers)
            and (not subtests or record.key.subtest in subtests)
            and (not statuses or record.status in statuses)]


def as_json(records: Sequence[RunRecord]) -> str:
    """Return the records as a JSON array, one object per run."""
    return json.dumps([record.to_json() for record in records], indent=2) + "\n"


def as_table(records: Sequence[RunRecord]) -> str:
    """Return the records as aligned columns with a closing count."""
    if not records:
        return "no recorded run matches\n"
    rows = [_cells(record) for record in records]
    widths = [max(len(row[index]) for row in [list(COLUMNS), *rows])
              for index in range(len(COLUMNS))]
    lines = [_line(list(COLUMNS), widths), *(_line(row, widths) for row in rows)]
    counts = Counter(record.status for record in records)
    tally = ", ".join(f"{status} {counts[status]}"
                      for status in sorted(counts, key=_status_rank))
    lines.append(f"{len(records)} runs: {tally}")
    return "\n".join(lines) + "\n"


def _cells(record: RunRecord) -> list[str]:
    return [record.key.tier, record.key.subtest, str(record.key.number),
            record.status, record.reason or ABSENT, _text(record.attempt, "{}"),
            _text(record.agent_duration, "{:.1f}"), _text(record.cost_usd, "{:.4f}"),
            _text(record.input_tokens, "{}"), _text(record.output_tokens, "{}")]


def _line(cells: list[str], widths: list[int]) -> str:
    padded = [cell.rjust(width) if column in NUMERIC else cell.ljust(width)
              for cell, width, column in zip(cells, widths, COLUMNS, strict=True)]
    return "  ".join(padded).rstrip()


def _status_rank(status: str) -> tuple[int, str]:
    order = [known.value for known in Status]
    return (order.index(status) if status in order else len(order), status)


def _text(value: float | None, form: str) -> str:
    return ABSENT if value is None else form.format(value)


def _values(given: Iterable[str]) -> list[str]:
    """Split repeated and comma-separated option values."""
    return [part.strip() for value in given for part in value.split(",")
            if part.strip()]
