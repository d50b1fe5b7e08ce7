"""The tool's own cost per run in a first build, against a bare worktree add.

The experiment's agent and judge are `true`, so a sequential first build
(`doit run`, one job) costs almost only what the tool does per run: the
worktree, the overlay and its base commit, the diff, the checkpoint and the
run's records. Nothing is subtracted. The baseline, measured in the same
invocation, is `git worktree add --detach` of the same 2,000-file source, one
per run up to `--bare-limit` adds (1,000), from a bare clone as the tool's
cache is. Past that many registrations each bare add slows down (git reads
every registration of its repository), so a larger build is compared with
the cost of an add into a repository of at most 1,000 worktrees, which is
stricter than its own size would be. A bare process spawn is measured too,
to show what the two `true` processes of a run cost.

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
    code_line,
    machine_line,
    progress,
    ratio,
    run_once,
    seconds_text,
)
from profiling import print_profile
from synthetic import Shape, git, make_source_repo, write_experiment

SIZES = (100, 1_000)
QUICK_SIZES = (20, 100)
SOURCE_FILES = 2_000
SPAWNS = 200
BARE_LIMIT = 1_000
# Seconds after which a hung build is killed, plus ten seconds per run.
BUILD_TIMEOUT = 600


@dataclass(frozen=True)
class SizeResult:
    """Per-run seconds of the tool and of the bare worktree add at one size."""

    runs: int
    tool: float
    bare: float
    checkpoint_bytes: int


class BareWorktrees:
    """Detached worktrees of a bare clone of the source, added by plain git."""

    def __init__(self, folder: Path, repo: Path) -> None:
        self.folder = folder
        self.cache = folder / "cache.git"
        folder.mkdir(parents=True)
        git(folder, "clone", "--quiet", "--bare", str(repo), str(self.cache))
        self.sha = git(self.cache, "rev-parse", "main")
        self.count = 0

    def add(self, runs: int) -> float:
        """Add `runs` more worktrees; return the seconds they took."""
        os.sync()  # earlier phases' writes must not be flushed on our time
        started = time.perf_counter()
        for _ in range(runs):
            self.count += 1
            workspace = self.folder / f"w{self.count:05d}" / "workspace"
            subprocess.run(["git", "worktree", "add", "--detach", "--quiet",
                            str(workspace), self.sha],
                           cwd=self.cache, check=True, capture_output=True)
        return time.perf_counter() - started


def spawn_seconds(executable: str) -> float:
    """Return the median time to run `executable` once from this process."""
    times = []
    for _ in range(SPAWNS):
        started = time.perf_counter()
        subprocess.run([executable], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def tool_build(folder: Path, repo: Path, runs: int, true: str) -> tuple[float, int]:
    """Build an experiment of `runs` runs sequentially; return s/run, checkpoint."""
    project = write_experiment(folder, Shape.for_total(runs), repo=repo,
                               agent=[true], judge=[true])
    os.sync()
    sample = run_once([DOIT, "run"], cwd=project.root,
                      timeout=BUILD_TIMEOUT + 10 * runs)
    size = (project.results / "checkpoint.json").stat().st_size
    return sample.seconds / runs, size


def measure_size(folder: Path, repo: Path, runs: int, true: str, *,
                 bare_limit: int) -> SizeResult:
    """Measure the tool between two halves of the baseline.

    Drift in the machine's speed then weighs on both alike. Nothing is
    deleted until all three phases are done, and each phase starts after a
    sync, because deleting or writing back 100,000s of files slows whatever
    runs next.
    """
    adds = min(runs, bare_limit)
    half = adds // 2
    progress(f"{half:,} bare worktree adds of {repo.name}")
    bare = BareWorktrees(folder / "bare", repo)
    bare_seconds = bare.add(half)
    progress(f"first build of {runs:,} runs, one job")
    tool, checkpoint = tool_build(folder / "tool", repo, runs, true)
    progress(f"{adds - half:,} more bare worktree adds")
    bare_seconds += bare.add(adds - half)
    progress(f"deleting {folder}")
    shutil.rmtree(folder)
    os.sync()
    bare_per_run = bare_seconds / adds
    result = SizeResult(runs, tool, bare_per_run, checkpoint)
    print(f"{'first build per run':<24} {runs:>6,} runs: tool "
          f"{seconds_text(tool)} vs bare worktree add "
          f"{seconds_text(bare_per_run)} = {ratio(tool, bare_per_run)} "
          f"(bare: mean of {adds:,} adds; checkpoint.json "
          f"{checkpoint / 1024:,.0f} KB)", flush=True)
    return result


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
    last = results[-1]
    print(f"summary: first build at {last.runs:,} runs costs "
          f"{seconds_text(last.tool)} per run = {ratio(last.tool, last.bare)} a "
          f"bare worktree add ({seconds_text(last.bare)}); a process spawn is "
          f"{seconds_text(spawn)}; tool per-run growth {' then '.join(growth)}")


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
    parser.add_argument("--sizes", type=int, nargs="+", help="run counts to measure")
    parser.add_argument("--files", type=int, default=SOURCE_FILES,
                        help=f"files in the source repository ({SOURCE_FILES:,})")
    parser.add_argument("--bare-limit", type=int, default=BARE_LIMIT,
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
    sizes = options.sizes or (QUICK_SIZES if options.quick else SIZES)
    true = shutil.which("true")
    if true is None:
        raise SystemExit("no `true` executable on PATH")
    with tempfile.TemporaryDirectory(prefix="scylla-bench-first-") as name:
        folder = Path(name)
        print(code_line())
        print(machine_line("start"), flush=True)
        progress(f"source repository of {options.files:,} files")
        repo = make_source_repo(folder / "source", files=options.files)
        spawn = spawn_seconds(true)
        print(f"{'bare process spawn':<24} {seconds_text(spawn)} "
              f"(median of {SPAWNS} runs of {true})", flush=True)
        results = [measure_size(folder / f"runs-{runs}", repo, runs, true,
                                bare_limit=options.bare_limit)
                   for runs in sizes]
        if options.breakdown:
            breakdown_build(folder / "breakdown", repo, sizes[-1], true)
        if options.profile:
            profile_build(folder / "profile", repo, sizes[-1], true)
        print(machine_line("end"))
        report(results, spawn)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
