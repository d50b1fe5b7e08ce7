"""No-op cost of a built experiment against doit's own floor, as runs grow.

For 100, 1,000 and 10,000 runs (`--quick`: 100 and 500) this builds a
synthetic experiment once, then measures, as the median of whole-process runs
interleaved with their baselines:

* `doit run` with nothing to do, `doit list --status`, and importing the
  dodo and draining its task generator, against the same on a floor of
  doit tasks (see synthetic.py) with backend `sqlite3` and `scylla-sqlite`;
* the peak resident memory of each of these against the floor's;
* how the no-op time per run grows from one size to the next.

Usage: python bench/noop.py [--quick] [--profile] [--repeats N]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import built_state
import profiling
from measurement import (
    DOIT,
    PYTHON,
    Figure,
    begin,
    figure_of,
    machine_line,
    output_of,
    positive,
    progress,
    ratio,
    run_once,
    seconds_text,
)
from synthetic import (
    Project,
    Shape,
    make_source_repo,
    run_count,
    task_generation_script,
    write_experiment,
    write_floor,
)

SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 500)
BACKENDS = ("sqlite3", "scylla-sqlite")
TOOL = "tool"
OPERATIONS = ("noop run", "list --status", "task generation", "import")
# What each subject imports before it can generate a task: the tool's package
# (which imports doit), and doit itself for the floors.
IMPORTS = {"task_experiment": "scylla_build", "task_floor": "doit"}
# A real first build of more runs than this took hours here (README), so the
# larger experiments get a synthesized built state unless asked otherwise.
REAL_BUILD_LIMIT = 1_000
# Tasks a complete build may leave stale without stopping the benchmark.
TOLERATED_STALE = {"report"}
# Seconds after which a hung command is killed: any measured command, and a
# first build (plus two seconds per run).
COMMAND_TIMEOUT = 600
BUILD_TIMEOUT = 600


@dataclass
class Subject:
    """One project measured: the experiment or one of its floors."""

    name: str
    folder: Path
    generator: str

    def argv(self, operation: str) -> list[str]:
        """Return the command that performs `operation` on this project."""
        if operation == "noop run":
            return [DOIT, "run"]
        if operation == "list --status":
            return [DOIT, "list", "--status"]
        if operation == "import":
            return [PYTHON, "-c", f"import {IMPORTS[self.generator]}"]
        return [PYTHON, "-c", task_generation_script(self.generator)]


@dataclass
class SizeResult:
    """The figures of one experiment size: operation -> subject -> figure."""

    runs: int
    shape: Shape
    figures: dict[str, dict[str, Figure]] = field(default_factory=dict)

    def seconds(self, operation: str, subject: str) -> float:
        return self.figures[operation][subject].seconds


def floor_name(backend: str) -> str:
    return f"floor[{backend}]"


def prepare(folder: Path, shape: Shape, repo: Path, options: argparse.Namespace,
            warnings: list[str]) -> list[Subject]:
    """Write and build the experiment and its floors; return them as subjects.

    Stale tasks tolerated after the build are added to `warnings`.
    """
    project = write_experiment(folder / "tool", shape, repo=repo,
                               agent=[_true()], judge=[_true()])
    if shape.total <= options.real_build_limit:
        build_for_real(project, options.build_jobs)
    else:
        progress(f"synthesizing the built state of {shape.total:,} runs "
                 f"({shape}); a real build is above --real-build-limit")
        started = time.perf_counter()
        built_state.synthesize(project, folder / "seed")
        progress(f"synthesized in {time.perf_counter() - started:.1f} s")
    subjects = [Subject(TOOL, project.root, "task_experiment"),
                *build_floors(folder, shape)]
    for subject in subjects:
        stale = require_up_to_date(subject)
        if stale:
            warnings.append(f"{stale} stale at {shape.total:,} runs")
    return subjects


def build_for_real(project: Project, jobs: int) -> None:
    """Run the experiment's first build and print how long it took."""
    runs = project.shape.total
    progress(f"first build of {runs:,} runs ({project.shape}), -n {jobs}")
    sample = run_once([DOIT, "run", "-n", str(jobs)], cwd=project.root,
                      timeout=BUILD_TIMEOUT + 2 * runs)
    print(f"{'first build':<20} {runs:>6,} runs: {seconds_text(sample.seconds)} "
          f"with -n {jobs}, {seconds_text(sample.seconds / runs)} per run "
          "(no baseline here; see first_build.py)", flush=True)


def build_floors(folder: Path, shape: Shape) -> list[Subject]:
    """Build a floor per backend; print the durable backend's cost per task."""
    subjects, seconds = [], {}
    for backend in BACKENDS:
        floor = write_floor(folder / f"floor-{backend}", shape, backend=backend)
        progress(f"first build of the floor ({shape.tasks:,} tasks, {backend})")
        seconds[backend] = run_once([DOIT, "run"], cwd=floor,
                                    timeout=COMMAND_TIMEOUT).seconds
        subjects.append(Subject(floor_name(backend), floor, "task_floor"))
    durable, plain = seconds[BACKENDS[1]], seconds[BACKENDS[0]]
    print(f"{'floor first build':<20} {shape.total:>6,} runs: "
          f"{floor_name(BACKENDS[1])} {seconds_text(durable)} vs "
          f"{floor_name(BACKENDS[0])} {seconds_text(plain)} = "
          f"{ratio(durable, plain)} ({seconds_text((durable - plain) / shape.tasks)}"
          " more per task saved; one sample each)", flush=True)
    return subjects


def _true() -> str:
    found = shutil.which("true")
    if found is None:
        raise SystemExit("no `true` executable on PATH")
    return found


def require_up_to_date(subject: Subject) -> str | None:
    """Refuse to measure a project where `doit list --status` shows work.

    A stale `report` alone is measured as it is, with a warning: a no-op
    build then re-runs the report, which is what a user would see. Return
    the names of such tolerated stale tasks, if any.
    """
    listing = output_of([DOIT, "list", "--status"], cwd=subject.folder)
    stale = [line for line in listing.splitlines() if not line.startswith("U ")]
    names = {line.split()[1] for line in stale if len(line.split()) > 1}
    if stale and names <= TOLERATED_STALE:
        print(f"warning: {subject.name}: {', '.join(sorted(names))} is not up "
              "to date after a complete build, so every no-op run below runs "
              "it again", flush=True)
        return ", ".join(sorted(names))
    if stale:
        raise SystemExit(f"{subject.name} in {subject.folder} is not up to date "
                         f"after its build: {len(stale)} lines such as "
                         f"{stale[:3]}")
    return None


def measure(subjects: list[Subject], repeats: int) -> dict[str, dict[str, Figure]]:
    """Time each operation on each subject, interleaving subjects per round."""
    figures: dict[str, dict[str, Figure]] = {}
    for operation in OPERATIONS:
        progress(f"measuring {operation}: {repeats} rounds of "
                 f"{', '.join(s.name for s in subjects)}")
        rounds = [[run_once(s.argv(operation), cwd=s.folder, timeout=COMMAND_TIMEOUT)
                   for s in subjects]
                  for _ in range(repeats)]
        figures[operation] = {
            subject.name: figure_of([samples[index] for samples in rounds])
            for index, subject in enumerate(subjects)}
    return figures


def report_size(result: SizeResult) -> None:
    """Print one line per figure and baseline for one experiment size."""
    for operation, by_subject in result.figures.items():
        tool = by_subject[TOOL]
        for backend in BACKENDS:
            floor = by_subject[floor_name(backend)]
            print(f"{operation:<20} {result.runs:>6,} runs: tool "
                  f"{seconds_text(tool.seconds)} vs {floor_name(backend)} "
                  f"{seconds_text(floor.seconds)} = "
                  f"{ratio(tool.seconds, floor.seconds)} (fastest "
                  f"{ratio(tool.fastest, floor.fastest)})")
        for backend in BACKENDS:
            print(_memory_line(operation, result.runs, tool,
                               by_subject[floor_name(backend)], backend))
    print(flush=True)


def _memory_line(operation: str, runs: int, tool: Figure, floor: Figure,
                 backend: str) -> str:
    extra = (tool.max_rss_kb - floor.max_rss_kb) / runs
    # Importing holds no task: memory per run means nothing there.
    per_run = "" if operation == "import" else f" ({extra:+.1f} KB per run)"
    return (f"{operation + ' rss':<20} {runs:>6,} runs: tool {tool.rss_mb:.1f} MB "
            f"vs {floor_name(backend)} {floor.rss_mb:.1f} MB = "
            f"{ratio(tool.rss_mb, floor.rss_mb)}{per_run}")


def report_growth(results: list[SizeResult]) -> list[str]:
    """Print how no-op time per run grows; return the tool's ratios."""
    floor = floor_name(BACKENDS[0])
    ratios = []
    for small, large in itertools.pairwise(results):
        span = f"{small.runs:,} -> {large.runs:,} runs"
        marginal = {}
        for subject in (TOOL, floor):
            before = small.seconds("noop run", subject)
            after = large.seconds("noop run", subject)
            per_run = (before / small.runs, after / large.runs)
            marginal[subject] = (after - before) / (large.runs - small.runs)
            print(f"{'noop per run':<20} {span}: {subject} "
                  f"{seconds_text(per_run[0])} -> {seconds_text(per_run[1])} = "
                  f"{ratio(per_run[1], per_run[0])}")
            if subject == TOOL:
                ratios.append(ratio(per_run[1], per_run[0]))
        print(f"{'noop per added run':<20} {span}: tool "
              f"{seconds_text(marginal[TOOL])} vs {floor} "
              f"{seconds_text(marginal[floor])} = "
              f"{ratio(marginal[TOOL], marginal[floor])}")
    return ratios


def summary(results: list[SizeResult], growth: list[str],
            stale: list[str]) -> str:
    """Say the largest size's ratios and the growth in one line."""
    last = results[-1]
    floor = floor_name(BACKENDS[0])
    parts = [f"{op} {ratio(last.seconds(op, TOOL), last.seconds(op, floor))}"
             for op in OPERATIONS]
    rss = last.figures["noop run"]
    return (f"summary: at {last.runs:,} runs vs {floor}: {', '.join(parts)}; "
            f"noop run {seconds_text(last.seconds('noop run', TOOL))}; peak memory "
            f"{ratio(rss[TOOL].rss_mb, rss[floor].rss_mb)}; no-op time per run "
            f"growth {' then '.join(growth) or 'n/a'}"
            f"{'; warning: ' + ', '.join(stale) if stale else ''}")


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"sizes {QUICK_SIZES} instead of {SIZES}")
    parser.add_argument("--sizes", type=run_count, nargs="+",
                        help="run counts to measure")
    parser.add_argument("--repeats", type=positive, default=5,
                        help="whole-process runs per figure (median; default 5)")
    parser.add_argument("--build-jobs", type=positive, default=2,
                        help="doit -n for the first builds (default 2)")
    parser.add_argument("--real-build-limit", type=positive, default=REAL_BUILD_LIMIT,
                        help="synthesize the built state of larger experiments "
                        f"instead of building them (default {REAL_BUILD_LIMIT:,})")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the no-op run at the largest size")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder and print its path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    begin()
    warnings: list[str] = []
    sizes = options.sizes or (QUICK_SIZES if options.quick else SIZES)
    folder = Path(tempfile.mkdtemp(prefix="scylla-bench-noop-"))
    try:
        repo = make_source_repo(folder / "source")
        results = []
        for runs in sizes:
            shape = Shape.for_total(runs)
            subjects = prepare(folder / f"runs-{runs}", shape, repo, options,
                               warnings)
            result = SizeResult(runs, shape, measure(subjects, options.repeats))
            report_size(result)
            results.append(result)
            if options.profile and runs == sizes[-1]:
                profiling.profile_noop(subjects[0].folder, subjects[1].folder)
        growth = report_growth(results)
        print(machine_line("end"))
        print(summary(results, growth, warnings))
    finally:
        if options.keep:
            progress(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
