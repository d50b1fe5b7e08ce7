"""The state a complete first build leaves, replicated from a one-run build.

A real first build of 10,000 runs can take long (see README), so the no-op
benchmark can instead build a seed experiment of one run with the same
source, prompt, commands and overlay content, and copy what that build left
to every run of the large experiment: the run's checkpoint entry, doit's
records of its three tasks, and its workspace, registered as a git worktree
of the copied repository that registered the seed's (all runs in that one)
the way `git worktree add` registers one. Every
subtest of a synthetic experiment has the same agent signature, so the
copies are what a real build would have recorded (except that every run's
base commit is the seed's). Besides git's worktree layout, only files the
tool documents are touched (`checkpoint.json`, DESIGN 4, and doit's sqlite
table); the benchmark then checks that `doit list --status` shows every task
up to date.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from measurement import DOIT, run_once
from synthetic import Project, Shape, write_experiment

SEED = Shape(tiers=1, subtests=1, runs=1)
STEPS = ("workspace", "run", "judge")
JOURNAL = "checkpoint.journal"


class SynthesisError(RuntimeError):
    """The seed build left a state this module does not know how to copy."""


def synthesize(project: Project, seed_root: Path) -> None:
    """Build a one-run seed, then copy its built state to every run of `project`."""
    seed = write_experiment(seed_root, SEED, repo=project.repo,
                            agent=list(project.agent), judge=list(project.judge))
    run_once([DOIT, "run"], cwd=seed.root, timeout=600)
    if (seed.results / JOURNAL).exists():
        raise SynthesisError(f"{seed.results / JOURNAL} survived the seed build; "
                             "this synthesis copies checkpoint.json only")
    seed_tier, seed_subtest, seed_number = SEED.run_keys()[0]
    shutil.copytree(seed.results, project.results,
                    ignore=lambda folder, names: [seed_tier]
                    if Path(folder) == seed.results else [])
    checkpoint = json.loads((seed.results / "checkpoint.json").read_text())
    entry = checkpoint["runs"][seed_tier][seed_subtest][str(seed_number)]
    _write_checkpoint(project, checkpoint, entry)
    seed_key = f"{seed_tier}:{seed_subtest}:{seed_number}"
    _copy_doit_records(_doit_database(project.results), seed_key, project.shape)
    _copy_worktrees(seed, project)
    shutil.rmtree(seed.root)


def workspace_of(project: Project, tier: str, subtest: str, number: int) -> Path:
    """Return a run's workspace folder (DESIGN 4)."""
    return project.results / tier / subtest / f"run_{number:02d}" / "workspace"


def _copy_worktrees(seed: Project, project: Project) -> None:
    """Give every run a copy of the seed's workspace and its registration."""
    seed_workspace = workspace_of(seed, *SEED.run_keys()[0])
    link = (seed_workspace / ".git").read_text().strip()
    registration = Path(link.removeprefix("gitdir:").strip())
    if not registration.is_relative_to(seed.results):
        raise SynthesisError(f"the seed's worktree is registered in "
                             f"{registration}, outside its results folder")
    worktrees = project.results / registration.relative_to(seed.results).parent
    template = worktrees / registration.name
    for index, key in enumerate(project.shape.run_keys(), start=1):
        workspace = workspace_of(project, *key)
        entry = worktrees / f"workspace{index}"
        shutil.copytree(template, entry)
        (entry / "gitdir").write_text(f"{workspace / '.git'}\n")
        shutil.copytree(seed_workspace, workspace,
                        ignore=shutil.ignore_patterns(".git"))
        (workspace / ".git").write_text(f"gitdir: {entry}\n")
    # The copy of the seed's own registration names the seed's workspace.
    shutil.rmtree(template)


def _write_checkpoint(project: Project, checkpoint: dict[str, Any],
                      entry: dict[str, Any]) -> None:
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for tier, subtest, number in project.shape.run_keys():
        runs.setdefault(tier, {}).setdefault(subtest, {})[str(number)] = entry
    checkpoint["runs"] = runs
    (project.results / "checkpoint.json").write_text(
        json.dumps(checkpoint, indent=1, sort_keys=True))


def _doit_database(results: Path) -> Path:
    """Find the one sqlite file of doit's under the copied results folder."""
    found = [path for path in results.rglob("*.sqlite*")
             if path.is_file() and path.suffix == ".sqlite"]
    if len(found) != 1:
        raise SynthesisError(f"expected one doit sqlite file under {results}, "
                             f"found {found}")
    return found[0]


def _copy_doit_records(database: Path, seed_key: str, shape: Shape) -> None:
    """Give every run's tasks the records doit keeps for the seed run's."""
    with sqlite3.connect(database) as connection:
        records = {step: connection.execute(
            "select task_data from doit where task_id = ?",
            (f"{step}:{seed_key}",)).fetchone() for step in STEPS}
        missing = [step for step, row in records.items() if row is None]
        if missing:
            raise SynthesisError(f"{database} holds no record of "
                                 f"{', '.join(missing)} of {seed_key}")
        connection.executemany(
            "insert or replace into doit values (?, ?)",
            [(f"{step}:{tier}:{subtest}:{number}", records[step][0])
             for tier, subtest, number in shape.run_keys() for step in STEPS])
    connection.close()
