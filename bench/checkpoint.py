"""What recording one run in the checkpoint costs as the ledger grows.

For ledgers of 100, 1,000 and 10,000 recorded runs (`--quick`: 100 and
1,000) this writes a checkpoint.json of that many entries shaped like a real
build's, then measures in this process:

* `record`: one run's record (a journal line, fsynced under the lock), the
  write every finished step makes, as the median of `--records` writes,
  against the floor of any durable write: appending the same bytes to a
  plain file and fsyncing it, measured alternately with it;
* `fold`: folding the journal into a new snapshot (read, apply, write,
  fsync, rename), which a build does once when it starts and once when it
  ends, or when the journal outgrows the snapshot;
* `first read`: reading the ledger, which every doit process does once;
* how each grows from the smallest ledger to the largest.

Usage: python bench/checkpoint.py [--quick] [--sizes ...] [--records N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from measurement import (
    begin,
    machine_line,
    positive,
    progress,
    ratio,
    seconds_text,
)

if TYPE_CHECKING:
    from scylla_build.layout import RunKey

SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 1_000)
RUNS_PER_SUBTEST = 10
SUBTESTS_PER_TIER = 50
EXPERIMENT = "bench"
COMMIT = "0" * 40
AGENT_SIGNATURE = "v1:" + "a" * 64
JUDGE_SIGNATURE = "v1:" + "b" * 64


@dataclass(frozen=True)
class SizeResult:
    runs: int
    record: float
    floor: float
    fold: float
    first_read: float
    snapshot_bytes: int


def key_of(index: int) -> RunKey:
    """Number runs the way the synthetic experiments do: 10 per subtest."""
    # Imported here, as in measure(), so that main() can first say which
    # Python to use when this one lacks the package.
    from scylla_build.layout import RunKey  # noqa: PLC0415
    subtest, number = divmod(index, RUNS_PER_SUBTEST)
    tier, subtest = divmod(subtest, SUBTESTS_PER_TIER)
    return RunKey(f"T{tier}", f"s{subtest:02d}", number + 1)


def finished_entry(index: int, started: float) -> dict[str, object]:
    """The fields a passed run's entry holds at the end of a real build."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started))
    return {"agent_duration": 1.5, "agent_exit_code": 0,
            "agent_signature": AGENT_SIGNATURE, "attempt": 1, "base": "b" * 40,
            "commit": COMMIT, "detail": "", "finished_at": stamp,
            "judge_exit_code": 0, "judge_signature": JUDGE_SIGNATURE,
            "judged": started + 2.0, "reason": "judged", "run": str(key_of(index)),
            "stage": "judged", "started": started, "started_at": stamp,
            "status": "passed", "timed_out": False}


def write_ledger(results: Path, runs: int) -> None:
    """Write a snapshot of `runs` finished runs, as the tool's fold writes it."""
    document: dict[str, object] = {
        "version": 1, "experiment": EXPERIMENT, "commit": COMMIT,
        "revision": runs * 4, "signatures": {}, "runs": {}}
    ledger: dict[str, dict[str, dict[str, object]]] = {}
    now = time.time()
    for index in range(runs):
        key = key_of(index)
        subtests = ledger.setdefault(key.tier, {})
        subtests.setdefault(key.subtest, {})[str(key.number)] = finished_entry(
            index, now)
    document["runs"] = ledger
    results.mkdir(parents=True)
    (results / "checkpoint.json").write_text(json.dumps(document, indent=1,
                                                        sort_keys=True))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def fsynced_append(path: Path, data: bytes) -> None:
    """The floor: the least a durable record of a line can cost."""
    with path.open("ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def measure(folder: Path, runs: int, records: int) -> SizeResult:
    from scylla_build.checkpoint import Checkpoint  # noqa: PLC0415  (see key_of)
    from scylla_build.layout import ResultsLayout  # noqa: PLC0415
    results = folder / f"runs-{runs}"
    write_ledger(results, runs)
    checkpoint = Checkpoint(ResultsLayout(results), EXPERIMENT, COMMIT)
    first_read = timed(checkpoint.document)
    fields = finished_entry(0, time.time())
    line = (json.dumps({"run": "T0:s00:1", "fields": fields, "replace": False,
                        "signatures": {}}, sort_keys=True) + "\n").encode()
    plain = folder / f"plain-{runs}.log"
    ours, floor = [], []
    for index in range(records):
        # Alternate, so that a slow spell of the disk hits both sides.
        key = key_of(index % runs)
        ours.append(timed(partial(checkpoint.record, key, fields)))
        floor.append(timed(partial(fsynced_append, plain, line)))
    fold = timed(checkpoint.fold)
    return SizeResult(runs, statistics.median(ours), statistics.median(floor),
                      fold, first_read, checkpoint.path.stat().st_size)


def report(result: SizeResult) -> None:
    runs = f"{result.runs:>6,} runs"
    print(f"record      {runs}: tool {seconds_text(result.record)} vs fsynced "
          f"append {seconds_text(result.floor)} = "
          f"{ratio(result.record, result.floor)}", flush=True)
    print(f"fold        {runs}: {seconds_text(result.fold)} "
          f"(snapshot {result.snapshot_bytes / 1024:,.0f} KB; once at each "
          "build's start and end)", flush=True)
    print(f"first read  {runs}: {seconds_text(result.first_read)}", flush=True)


def growth_lines(small: SizeResult, large: SizeResult) -> list[str]:
    span = f"{small.runs:,} -> {large.runs:,} runs"
    return [
        f"record growth {span}: tool {ratio(large.record, small.record)}, "
        f"fsynced append {ratio(large.floor, small.floor)}",
        f"fold growth   {span}: {ratio(large.fold, small.fold)} "
        f"(runs grew {large.runs / small.runs:,.0f}x)",
    ]


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="sizes (100, 1000) instead of (100, 1000, 10000)")
    parser.add_argument("--sizes", type=positive, nargs="+",
                        help="recorded runs in the ledger")
    parser.add_argument("--records", type=positive, default=51,
                        help="records written per size (median; default 51)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    begin()
    sizes = options.sizes or (QUICK_SIZES if options.quick else SIZES)
    results = []
    with tempfile.TemporaryDirectory(prefix="scylla-bench-checkpoint-") as folder:
        for runs in sorted(sizes):
            progress(f"ledger of {runs:,} runs: {options.records} records")
            results.append(measure(Path(folder), runs, options.records))
            report(results[-1])
    small, large = results[0], results[-1]
    for line in growth_lines(small, large) if len(results) > 1 else []:
        print(line, flush=True)
    print(machine_line("end"), flush=True)
    growth = (f", {ratio(large.record, small.record)} its cost at {small.runs:,}"
              if len(results) > 1 else "")
    print(f"summary: at {large.runs:,} runs a record costs "
          f"{seconds_text(large.record)} ({ratio(large.record, large.floor)} an "
          f"fsynced append{growth}); a fold {seconds_text(large.fold)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
