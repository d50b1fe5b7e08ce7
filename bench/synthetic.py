"""Synthetic experiments and doit floors, written into temporary folders.

An experiment here is what a user would write: a source git repository, an
`experiment.toml` with many tiers and subtests, a one-file overlay per
subtest and the two-line `dodo.py`. A floor is a plain doit project with the
same number of tasks, the same task names and `task_dep` chains, each task
holding one `uptodate` callable that reads a saved value: what doit itself
costs for the same graph, with nothing of the tool in it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from measurement import positive

GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost",
           "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
EXPERIMENT_NAME = "bench"
RUNS_PER_SUBTEST = 10
MAX_TIERS = 20
# Files per folder of the source repository, so 2,000 files sit in 40 folders.
FILES_PER_FOLDER = 50

DODO = ("from scylla_build import experiment_dodo\n"
        "DOIT_CONFIG, task_experiment = experiment_dodo("
        "'experiments/{name}/experiment.toml')\n")

FLOOR_DODO = '''"""doit's floor: {runs} x 3 trivial tasks, the experiment's graph."""

DOIT_CONFIG = {{"backend": {backend!r}, "dep_file": {dep_file!r},
               "continue": True}}
KEYS = [f"T{{t:02d}}:s{{s:02d}}:{{n}}" for t in range({tiers})
        for s in range({subtests}) for n in range(1, {per_subtest} + 1)]


def check(task, values):
    return values.get("x") == 1


def act():
    return {{"x": 1}}


def task_floor():
    for key in KEYS:
        yield {{"basename": f"workspace:{{key}}", "doc": f"workspace {{key}}",
               "actions": [act], "uptodate": [check], "verbosity": 0}}
        yield {{"basename": f"run:{{key}}", "doc": f"run {{key}}",
               "actions": [act], "uptodate": [check], "verbosity": 0,
               "task_dep": [f"workspace:{{key}}"]}}
        yield {{"basename": f"judge:{{key}}", "doc": f"judge {{key}}",
               "actions": [act], "uptodate": [check], "verbosity": 0,
               "task_dep": [f"run:{{key}}"]}}
'''


@dataclass(frozen=True)
class Shape:
    """How many tiers, subtests per tier and runs per subtest."""

    tiers: int
    subtests: int
    runs: int

    @property
    def total(self) -> int:
        return self.tiers * self.subtests * self.runs

    @property
    def tasks(self) -> int:
        return 3 * self.total

    def __str__(self) -> str:
        return f"{self.tiers} tiers x {self.subtests} subtests x {self.runs} runs"

    def run_keys(self) -> list[tuple[str, str, int]]:
        """Return every run's tier, subtest and number, as the tool names them."""
        return [(f"T{tier:02d}", f"s{subtest:02d}", number)
                for tier in range(self.tiers) for subtest in range(self.subtests)
                for number in range(1, self.runs + 1)]

    @classmethod
    def for_total(cls, total: int) -> Shape:
        """Spread `total` runs as 10 runs per subtest and up to 20 tiers."""
        cells, rest = divmod(total, RUNS_PER_SUBTEST)
        tiers = min(MAX_TIERS, max(1, cells // 50))
        if rest or cells % tiers:
            raise ValueError(f"{total} runs do not split into "
                             f"{RUNS_PER_SUBTEST} runs per subtest over "
                             f"{tiers} tiers; use e.g. 100, 500, 1000 or 10000")
        return cls(tiers, cells // tiers, RUNS_PER_SUBTEST)


@dataclass(frozen=True)
class Project:
    """A project folder holding one experiment and its dodo.py."""

    root: Path
    shape: Shape
    repo: Path
    agent: tuple[str, ...]
    judge: tuple[str, ...]

    @property
    def experiment_dir(self) -> Path:
        return self.root / "experiments" / EXPERIMENT_NAME

    @property
    def experiment_file(self) -> Path:
        return self.experiment_dir / "experiment.toml"

    @property
    def results(self) -> Path:
        return self.root / "results" / EXPERIMENT_NAME


def git(cwd: Path, *args: str) -> str:
    """Run git with a fixed identity and date; return its output."""
    done = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV},
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


def make_source_repo(folder: Path, *, files: int = 2) -> Path:
    """Create a git repository of `files` small files, one commit on main."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    for number in range(files):
        path = folder / f"pkg{number // FILES_PER_FOLDER:03d}" / f"m{number:05d}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f'"""Module {number}."""\n\nVALUE = {number}\n')
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "initial")
    return folder


def write_experiment(root: Path, shape: Shape, *, repo: Path,
                     agent: list[str], judge: list[str]) -> Project:
    """Write an experiment of `shape` whose agent and judge are `agent`, `judge`.

    Every subtest's overlay holds the same file, so every run has the same
    agent signature (a signature holds no tier or subtest name).
    """
    project = Project(root, shape, repo, tuple(agent), tuple(judge))
    directory = project.experiment_dir
    directory.mkdir(parents=True)
    (directory / "prompt.md").write_text("Do nothing, quickly.\n")
    lines = ["[experiment]", f"runs = {shape.runs}", "", "[source]",
             f"repo = {json.dumps(str(repo))}", 'commit = "main"', "",
             "[task]", 'prompt = "prompt.md"', "", "[agent]",
             f"command = {json.dumps(agent)}", "timeout = 600", "",
             "[judge]", f"command = {json.dumps(judge)}", "timeout = 600", ""]
    subtests = sorted({(tier, subtest) for tier, subtest, _ in shape.run_keys()})
    for tier, subtest in subtests:
        overlay = Path("tiers") / tier / subtest
        (directory / overlay).mkdir(parents=True)
        (directory / overlay / "HINT.md").write_text("Answer quickly.\n")
        lines += [f"[tiers.{tier}.subtests.{subtest}]",
                  f'overlay = "{overlay.as_posix()}"', ""]
    project.experiment_file.write_text("\n".join(lines))
    (root / "dodo.py").write_text(DODO.format(name=EXPERIMENT_NAME))
    return project


def write_floor(root: Path, shape: Shape, *, backend: str) -> Path:
    """Write doit's floor for `shape` with `backend`; return its folder."""
    root.mkdir(parents=True)
    (root / "dodo.py").write_text(FLOOR_DODO.format(
        runs=shape.total, backend=backend, dep_file="floor.sqlite",
        tiers=shape.tiers, subtests=shape.subtests, per_subtest=shape.runs))
    return root


def task_generation_script(generator: str) -> str:
    """Return `python -c` code that imports ./dodo.py and drains a generator."""
    return ("import importlib.util, sys\n"
            "sys.path.insert(0, '.')\n"
            "spec = importlib.util.spec_from_file_location('dodo', 'dodo.py')\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(module)\n"
            f"count = sum(1 for _ in module.{generator}())\n"
            "assert count > 0, count\n")


def run_count(text: str) -> int:
    """An argparse type: a number of runs that Shape.for_total can lay out."""
    value = positive(text)
    try:
        Shape.for_total(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value
