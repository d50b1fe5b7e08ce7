"""An experiment: experiment.toml read, validated and resolved (DESIGN 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from scylla_build.command import CommandSpec, read_command, require_table
from scylla_build.errors import ConfigError
from scylla_build.layout import RunKey
from scylla_build.schema import Table
from scylla_build.source import SourceSpec, read_source
from scylla_build.subtest import (
    Subtest,
    check_id,
    folder_declarations,
    read_folder,
    read_inline,
    toml_key,
)
from scylla_build.toml import read_toml

DEFAULT_AGENT_TIMEOUT = 600.0
DEFAULT_JUDGE_TIMEOUT = 300.0
DEFAULT_MAX_WAIT = 3600.0
# Linux refuses a single argument longer than this (MAX_ARG_STRLEN), and a
# preset passes the prompt as one argument.
MAX_PROMPT_ARGUMENT = 128 * 1024 - 1
TOP_LEVEL = ("experiment", "source", "task", "agent", "judge", "tiers")


@dataclass(frozen=True)
class Limits:
    """What a build may spend and wait; none of it is part of a signature."""

    budget_usd: float | None = None
    max_concurrent_agents: int | None = None
    max_wait: float = DEFAULT_MAX_WAIT


@dataclass(frozen=True)
class Experiment:
    """Everything an experiment file says, checked and with paths resolved."""

    name: str
    file: Path
    directory: Path
    runs: int
    results: Path
    rerun_failed: bool
    source: SourceSpec
    prompt: Path
    agent: CommandSpec
    judge: CommandSpec
    subtests: tuple[Subtest, ...]
    limits: Limits = field(default_factory=Limits)

    def run_keys(self) -> list[RunKey]:
        """Return every run key, ordered by tier, subtest and number."""
        return [RunKey(sub.tier, sub.name, number)
                for sub in self.subtests
                for number in range(1, self.runs + 1)]


def load_experiment(file: Path | str, *, cwd: Path | None = None) -> Experiment:
    """Read and validate an experiment file; raise ConfigError on bad input."""
    file = Path(file).absolute()
    base = (cwd or Path.cwd()).absolute()
    directory = file.parent
    root = Table(file, "", read_toml(file))
    section = root.table("experiment") or Table(file, "experiment", {})
    name = section.string("name", directory.name, example='"hello-world"')
    check_id(file, "[experiment].name", name, "experiment")
    runs = section.positive_int("runs")
    results_written = section.string("results", None, example='"results/x"')
    results = (directory / results_written if results_written
               else base / "results" / name)
    rerun_failed = section.boolean("rerun_failed", True)
    limits = _read_limits(section)
    section.finish()
    source = read_source(require_table(root.table("source"), "source", file),
                         directory, results)
    prompt = _read_prompt(require_table(root.table("task"), "task", file), directory)
    agent = read_command(require_table(root.table("agent"), "agent", file),
                         default_timeout=DEFAULT_AGENT_TIMEOUT,
                         experiment_dir=directory, presets_allowed=True)
    judge = read_command(require_table(root.table("judge"), "judge", file),
                         default_timeout=DEFAULT_JUDGE_TIMEOUT,
                         experiment_dir=directory)
    subtests = _read_subtests(root, agent, directory)
    root.finish()
    _check_prompt_argument(file, prompt, subtests)
    source.resolve()
    return Experiment(name, file, directory, runs, results.absolute(),
                      rerun_failed, source, prompt, agent, judge, subtests, limits)


def _read_limits(section: Table) -> Limits:
    """Read the spend budget, the agent concurrency cap and the longest pause."""
    budget = section.amount("budget_usd", example="25.00")
    agents = section.positive_int("max_concurrent_agents", None)
    max_wait = section.seconds("max_wait", DEFAULT_MAX_WAIT)
    return Limits(budget, agents, max_wait)


def _check_prompt_argument(file: Path, prompt: Path,
                           subtests: tuple[Subtest, ...]) -> None:
    """Refuse a prompt a preset's CLI could not take as its prompt argument."""
    if not any(sub.agent.preset for sub in subtests):
        return
    size = prompt.stat().st_size
    if size > MAX_PROMPT_ARGUMENT:
        raise ConfigError(file, "[task].prompt",
                          f"is {size} bytes, longer than the {MAX_PROMPT_ARGUMENT} "
                          "bytes a preset can pass to its CLI as one argument",
                          "shorten the prompt, or run the CLI through a bare "
                          "command that reads the file itself")
    with prompt.open("rb") as handle:
        if handle.read(1) == b"-":
            raise ConfigError(file, "[task].prompt",
                              "starts with '-', which a preset's CLI would read "
                              "as an option", "begin the prompt with a word")


def _read_prompt(table: Table, directory: Path) -> Path:
    written = table.string("prompt", example='"prompt.md"')
    table.finish()
    prompt: Path = directory / written
    if not prompt.is_file():
        table.fail("prompt", f"names {written!r}, which is not a file in {directory}",
                   "create the prompt file or fix the path")
    return prompt


def _read_subtests(root: Table, agent: CommandSpec,
                   directory: Path) -> tuple[Subtest, ...]:
    """Merge inline and folder-declared subtests; a duplicate is an error."""
    found: dict[tuple[str, str], Subtest] = {}
    for tier, table in root.subtables("tiers").items():
        check_id(root.file, f"[tiers.{toml_key(tier)}]", tier, "tier")
        table.string("description", "", example='"prompt only"')
        for name, sub_table in table.subtables("subtests").items():
            label = f"[tiers.{toml_key(tier)}.subtests.{toml_key(name)}]"
            check_id(root.file, label, name, "subtest")
            found[(tier, name)] = read_inline(tier, name, sub_table, agent, directory)
        table.finish()
    for (tier, name), folder in folder_declarations(directory).items():
        if (tier, name) in found:
            raise ConfigError(root.file, f"[tiers.{tier}.subtests.{name}]",
                              f"is declared both here and as the folder {folder}",
                              "keep one declaration: remove the table or move "
                              "its keys into subtest.toml")
        found[(tier, name)] = read_folder(tier, name, folder, agent, directory)
    if not found:
        raise ConfigError(root.file, "[tiers]", "declares no subtest",
                          "add e.g. [tiers.T0.subtests.s00] or a folder "
                          "tiers/T0/s00/ holding subtest.toml")
    return tuple(found[key] for key in sorted(found))
