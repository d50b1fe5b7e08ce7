"""The tool's own cost per run in a first build, against a bare worktree add.

The experiment's agent and judge are `true`, so a sequential first build
(`doit run`, one job) costs almost only what the tool does per run: the
worktree, the overlay and its base commit, the diff, the checkpoint and the
run's records. Nothing is subtracted. The baseline, measured in the same
invocation, is `git worktree add --detach` of the same 2,000-file source from
a bare clone, as the tool's cache is, up to `--bare-limit` adds (1,000) per
size.

A single add here takes anywhere from 0.5x to 2x its median, as the kernel
creating thousands of files does, and that speed drifts over minutes. So
each size is measured in rounds: the tool builds a slice of the runs (one
`doit run` naming their judge tasks) between two halves of a slice of the
bare adds, and drift weighs on both alike. Each round's `doit run` loads the
whole experiment and writes the report at its end, which only adds to the
tool's side.

git reads every registration of a repository on each add and searches the
names for a free one, so adds into one repository slow down as they pile
up. The tool registers each subtest's workspaces (10 here) in a repository
of their own; the baseline's registrations are moved aside after every 10
adds to match, so neither side pays for the size of the experiment.

Usage: python bench/first_build.py [--quick] [--sizes N ...] [--files N]
       [--bare-limit N] [--breakdown] [--profile]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import git_trace
from measurement import (
    DOIT,
    PYTHON,
    begin,
    machine_line,
    positive,
    progress,
    ratio,
    run_once,
    seconds_text,
)
from profiling import print_profile
from synthetic import (
    RUNS_PER_SUBTEST,
    Project,
    Shape,
    git,
    make_source_repo,
    run_count,
    write_experiment,
)

SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 500)
SOURCE_FILES = 2_000
SPAWNS = 200
BARE_LIMIT = 1_000
# Runs per round at the least, so that a round's doit start-up and report
# stay a small part of it, and rounds per size at the most.
MIN_ROUND_RUNS = 200
MAX_ROUNDS = 10
# Seconds after which a hung build is killed, plus ten seconds per run.
BUILD_TIMEOUT = 600


@dataclass(frozen=True)
class Round:
    """One slice of a size: the tool's runs and the bare adds around them."""

    runs: int
    tool_seconds: float
    adds: int
    bare_seconds: float

    @property
    def ratio(self) -> float:
        return (self.tool_seconds / self.runs) / (self.bare_seconds / self.adds)


@dataclass(frozen=True)
class SizeResult:
    """Per-run seconds of the tool and of the bare worktree add at one size."""

    runs: int
    rounds: tuple[Round, ...]
    checkpoint_bytes: int

    @property
    def tool(self) -> float:
        return sum(r.tool_seconds for r in self.rounds) / self.runs

    @property
    def bare(self) -> float:
        return (sum(r.bare_seconds for r in self.rounds)
                / sum(r.adds for r in self.rounds))


class BareWorktrees:
    """Detached worktrees of a bare clone of the source, added by plain git.

    Every `group` adds the registrations are moved aside (outside the
    timing), so that no add meets more than `group - 1` others.
    """

    def __init__(self, folder: Path, repo: Path, *, group: int) -> None:
        self.folder = folder
        self.cache = folder / "cache.git"
        self.group = group
        folder.mkdir(parents=True)
        git(folder, "clone", "--quiet", "--bare", str(repo), str(self.cache))
        self.sha = git(self.cache, "rev-parse", "main")
        self.count = 0

    def add(self, count: int) -> float:
        """Add `count` more worktrees; return the seconds the adds took."""
        os.sync()  # earlier phases' writes must not be flushed on our time
        seconds = 0.0
        for _ in range(count):
            self.count += 1
            workspace = self.folder / f"w{self.count:05d}" / "workspace"
            started = time.perf_counter()
            subprocess.run(["git", "worktree", "add", "--detach", "--quiet",
                            str(workspace), self.sha],
                           cwd=self.cache, check=True, capture_output=True)
            seconds += time.perf_counter() - started
            if self.count % self.group == 0:
                os.rename(self.cache / "worktrees",
                          self.cache / f"retired-{self.count:05d}")
        return seconds


def spawn_seconds(executable: str) -> float:
    """Return the median time to run `executable` once from this process."""
    times = []
    for _ in range(SPAWNS):
        started = time.perf_counter()
        subprocess.run([executable], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def split(total: int, parts: int) -> list[int]:
    """Split `total` into `parts` whole numbers that differ by at most one."""
    size, extra = divmod(total, parts)
    return [size + (1 if index < extra else 0) for index in range(parts)]


def slices(project: Project, rounds: int) -> list[list[str]]:
    """Return the judge task names of each round's runs, whole subtests each."""
    subtests = project.shape.total // RUNS_PER_SUBTEST
    keys = project.shape.run_keys()
    names, start = [], 0
    for count in split(subtests, rounds):
        chunk = keys[start * RUNS_PER_SUBTEST:(start + count) * RUNS_PER_SUBTEST]
        names.append([f"judge:{tier}:{sub}:{number}"
                      for tier, sub, number in chunk])
        start += count
    return names


def tool_round(project: Project, tasks: list[str]) -> float:
    """Build the runs of `tasks` in one sequential `doit run`; return seconds."""
    os.sync()
    sample = run_once([DOIT, "run", *tasks], cwd=project.root,
                      timeout=BUILD_TIMEOUT + 10 * len(tasks))
    return sample.seconds


def room_for(inodes: int, folder: Path) -> bool:
    """Say whether the file system has twice `inodes` free for new files."""
    return os.statvfs(folder).f_favail > 2 * inodes


def free_checkouts(project: Project, bare: BareWorktrees, *,
                   rounds_done: int) -> int:
    """Delete the checked-out files of workspaces built so far; return how many.

    10,000 checkouts of 2,000 files are 20 million files, more inodes than
    many file systems have. Each later round builds other subtests, whose
    worktrees are registered in repositories of their own, so deleting
    earlier checkouts changes nothing the tool or git reads on an add; the
    registrations, the checkpoint and doit's records stay.
    """
    progress(f"freeing inodes: deleting the checkouts of {rounds_done} round(s)")
    workspaces = [p for p in project.results.glob("*/*/run_*/workspace")
                  if p.is_dir()]
    workspaces += [p for p in bare.folder.glob("w*/workspace") if p.is_dir()]
    for workspace in workspaces:
        shutil.rmtree(workspace)
    os.sync()
    return len(workspaces)


def measure_size(folder: Path, repo: Path, runs: int, true: str, *,
                 bare_limit: int, files: int) -> SizeResult:
    """Measure the tool in rounds, each between two halves of bare adds.

    Nothing is deleted until every round is done, unless the file system
    runs short of inodes (free_checkouts), and each phase starts after a
    sync, because deleting or writing back 100,000s of files slows whatever
    runs next.
    """
    project = write_experiment(folder / "tool", Shape.for_total(runs), repo=repo,
                               agent=[true], judge=[true])
    bare = BareWorktrees(folder / "bare", repo, group=RUNS_PER_SUBTEST)
    count = max(1, min(MAX_ROUNDS, runs // MIN_ROUND_RUNS))
    rounds = []
    freed = 0
    for index, (tasks, adds) in enumerate(zip(
            slices(project, count), split(min(runs, bare_limit), count),
            strict=True)):
        if index and not room_for((len(tasks) + adds) * (files + 50), folder):
            freed += free_checkouts(project, bare, rounds_done=index)
        progress(f"{runs:,} runs, round {index + 1} of {count}: {adds:,} bare "
                 f"adds around a first build of {len(tasks):,} runs")
        before = bare.add(adds // 2)
        tool = tool_round(project, tasks)
        after = bare.add(adds - adds // 2)
        rounds.append(Round(len(tasks), tool, adds, before + after))
    size = (project.results / "checkpoint.json").stat().st_size
    if freed:
        progress(f"{freed:,} checkouts were deleted between rounds to free inodes")
    result = SizeResult(runs, tuple(rounds), size)
    print_size(result)  # now: deleting millions of files takes minutes
    progress(f"deleting {folder}")
    shutil.rmtree(folder)
    os.sync()
    return result


def print_size(result: SizeResult) -> None:
    """Print the size's ratio and the spread of its rounds' ratios."""
    adds = sum(r.adds for r in result.rounds)
    ratios = sorted(r.ratio for r in result.rounds)
    spread = (f"; rounds {ratios[0]:.2f}x to {ratios[-1]:.2f}x, median "
              f"{statistics.median(ratios):.2f}x" if len(ratios) > 1 else "")
    print(f"{'first build per run':<24} {result.runs:>6,} runs: tool "
          f"{seconds_text(result.tool)} vs bare worktree add "
          f"{seconds_text(result.bare)} = {ratio(result.tool, result.bare)} "
          f"({len(result.rounds)} round(s), {adds:,} bare adds{spread}; "
          f"checkpoint.json {result.checkpoint_bytes / 1024:,.0f} KB)", flush=True)


def report(results: list[SizeResult], spawn: float) -> None:
    """Print spawn cost, growth per run and the summary line."""
    for result in results:
        print(f"{'two process spawns':<24} {result.runs:>6,} runs: "
              f"{seconds_text(2 * spawn)} per run = "
              f"{2 * spawn / result.tool:.1%} of the tool's per-run cost")
    growth = []
    for small, large in itertools.pairwise(results):
        span = f"{small.runs:,} -> {large.runs:,} runs"
        growth.append(ratio(large.tool, small.tool))
        print(f"{'per-run growth':<24} {span}: tool {growth[-1]}, bare worktree "
              f"add {ratio(large.bare, small.bare)}")
    print(machine_line("end"))
    last = results[-1]
    growth_text = f"; tool per-run growth {' then '.join(growth)}" if growth else ""
    print(f"summary: first build at {last.runs:,} runs costs "
          f"{seconds_text(last.tool)} per run = {ratio(last.tool, last.bare)} a "
          f"bare worktree add ({seconds_text(last.bare)}); a process spawn is "
          f"{seconds_text(spawn)}{growth_text}")


def profile_build(folder: Path, repo: Path, runs: int, true: str) -> None:
    """Profile one more sequential first build of `runs` runs."""
    project = write_experiment(folder, Shape.for_total(runs), repo=repo,
                               agent=[true], judge=[true])
    output = folder.parent / f"first-build-{runs}.prof"
    progress(f"profiling a first build of {runs:,} runs")
    os.sync()
    sample = run_once([PYTHON, "-m", "cProfile", "-o", str(output), DOIT, "run"],
                      cwd=project.root, timeout=BUILD_TIMEOUT + 20 * runs)
    print_profile(output, f"first build of {runs:,} runs", sample.seconds)
    shutil.rmtree(folder)
    os.sync()


def breakdown_build(folder: Path, repo: Path, runs: int, true: str) -> None:
    """Build once more with a logging git on PATH; print time per subcommand."""
    project = write_experiment(folder / "project", Shape.for_total(runs),
                               repo=repo, agent=[true], judge=[true])
    env = git_trace.install(folder / "shim")
    progress(f"first build of {runs:,} runs with git traced")
    os.sync()
    sample = run_once([DOIT, "run"], cwd=project.root, env=env,
                      timeout=BUILD_TIMEOUT + 10 * runs)
    calls = git_trace.summarize(Path(env[git_trace.LOG_VARIABLE]))
    total = sample.seconds / runs
    print(f"breakdown: traced first build of {runs:,} runs took "
          f"{seconds_text(total)} per run (the shim adds a bash start per call)")
    for call in calls:
        print(f"breakdown: git {call.name:<24} {call.count / runs:5.2f} calls "
              f"{seconds_text(call.seconds / runs):>9} per run = "
              f"{call.seconds / sample.seconds:6.1%} of the build")
    outside = sample.seconds - sum(call.seconds for call in calls)
    print(f"breakdown: outside git{'':<21} {seconds_text(outside / runs):>15} "
          f"per run = {outside / sample.seconds:6.1%} of the build", flush=True)
    shutil.rmtree(folder)
    os.sync()


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"sizes {QUICK_SIZES} instead of {SIZES}")
    parser.add_argument("--sizes", type=run_count, nargs="+",
                        help="run counts to measure")
    parser.add_argument("--files", type=positive, default=SOURCE_FILES,
                        help=f"files in the source repository ({SOURCE_FILES:,})")
    parser.add_argument("--bare-limit", type=positive, default=BARE_LIMIT,
                        help="most bare worktree adds per size, into one "
                        f"repository ({BARE_LIMIT:,})")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile a first build at the largest size")
    parser.add_argument("--breakdown", action="store_true",
                        help="also break a first build at the largest size "
                        "down by git subcommand")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    begin()
    sizes = options.sizes or (QUICK_SIZES if options.quick else SIZES)
    true = shutil.which("true")
    if true is None:
        raise SystemExit("no `true` executable on PATH")
    with tempfile.TemporaryDirectory(prefix="scylla-bench-first-") as name:
        folder = Path(name)
        progress(f"source repository of {options.files:,} files")
        repo = make_source_repo(folder / "source", files=options.files)
        spawn = spawn_seconds(true)
        print(f"{'bare process spawn':<24} {seconds_text(spawn)} "
              f"(median of {SPAWNS} runs of {true})", flush=True)
        results = [measure_size(folder / f"runs-{runs}", repo, runs, true,
                                bare_limit=options.bare_limit, files=options.files)
                   for runs in sizes]
        if options.breakdown:
            breakdown_build(folder / "breakdown", repo, sizes[-1], true)
        if options.profile:
            profile_build(folder / "profile", repo, sizes[-1], true)
        report(results, spawn)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
