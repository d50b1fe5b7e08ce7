"""Parallel efficiency of a first build whose agent sleeps one second.

For 64 runs (`--quick`: 16) whose agent is `sleep 1` and whose judge is
`true`, this builds a fresh copy of the experiment with `doit run -n N` for
N = 1, 4 and 8 and compares each wall time with the ideal, runs x 1 s / N.
Efficiency is ideal / measured: 100% means the tool adds nothing to the
agents' own time and keeps N of them busy at once.

Usage: python bench/parallel.py [--quick] [--jobs 1 4 8] [--pool process]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from measurement import (
    DOIT,
    CommandFailed,
    begin,
    machine_line,
    positive,
    progress,
    ratio,
    run_once,
    seconds_text,
)
from synthetic import Shape, make_source_repo, write_experiment

RUNS = Shape(tiers=1, subtests=4, runs=16)
QUICK_RUNS = Shape(tiers=1, subtests=2, runs=8)
JOBS = (1, 4, 8)
SLEEP_SECONDS = 1


def executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"no `{name}` executable on PATH")
    return found


def build_seconds(folder: Path, shape: Shape, repo: Path, jobs: int,
                  pool: str) -> float | None:
    """Build a fresh experiment with `-n jobs`; return its wall seconds.

    A build that fails or hangs (killed after four times the sequential
    ideal) is reported on stderr and yields None.
    """
    project = write_experiment(
        folder, shape, repo=repo,
        agent=[executable("sleep"), str(SLEEP_SECONDS)], judge=[executable("true")])
    progress(f"first build of {shape.total} sleeping runs, -n {jobs} -P {pool}")
    timeout = 4 * shape.total * SLEEP_SECONDS + 120
    try:
        sample = run_once([DOIT, "run", "-n", str(jobs), "-P", pool],
                          cwd=project.root, timeout=timeout)
    except CommandFailed as err:
        progress(f"the build with -n {jobs} failed: {err}")
        return None
    finally:
        shutil.rmtree(folder)
    return sample.seconds


def report(shape: Shape, walls: dict[int, float | None]) -> None:
    """Print efficiency and speed-up per job count, then the summary."""
    work = shape.total * SLEEP_SECONDS
    efficiencies = []
    for jobs, wall in walls.items():
        ideal = work / jobs
        if wall is None:
            efficiencies.append(f"-n {jobs} failed")
            print(f"{'parallel -n ' + str(jobs):<14} {shape.total} runs: the "
                  f"build failed or hung (see stderr); ideal {seconds_text(ideal)}")
            continue
        efficiencies.append(f"-n {jobs} {ideal / wall:.0%}")
        print(f"{'parallel -n ' + str(jobs):<14} {shape.total} runs: wall "
              f"{seconds_text(wall)} vs ideal {seconds_text(ideal)} = "
              f"{ratio(wall, ideal)}, efficiency {ideal / wall:.0%} "
              f"(wall - ideal = {seconds_text(wall - ideal)})")
    first = next(iter(walls))
    for jobs, wall in walls.items():
        start = walls[first]
        if jobs != first and wall is not None and start is not None:
            print(f"{'speed-up -n ' + str(jobs):<14} {shape.total} runs: "
                  f"{ratio(start, wall)} over -n {first} "
                  f"(ideal {jobs / first:.2f}x)")
    print(f"summary: {shape.total} runs of a {SLEEP_SECONDS} s agent: "
          f"parallel efficiency {', '.join(efficiencies)}")


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_RUNS.total} runs instead of {RUNS.total}")
    parser.add_argument("--jobs", type=positive, nargs="+", default=list(JOBS),
                        help="values of doit -n to measure (default 1 4 8)")
    parser.add_argument("--pool", choices=("process", "thread"),
                        default="process", help="doit -P (default process)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    begin()
    shape = QUICK_RUNS if options.quick else RUNS
    with tempfile.TemporaryDirectory(prefix="scylla-bench-parallel-") as name:
        folder = Path(name)
        repo = make_source_repo(folder / "source")
        walls = {jobs: build_seconds(folder / f"n{jobs}", shape, repo, jobs,
                                     options.pool)
                 for jobs in options.jobs}
    print(machine_line("end"))
    report(shape, walls)
    return 1 if None in walls.values() else 0


if __name__ == "__main__":
    raise SystemExit(main())
