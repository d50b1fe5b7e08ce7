"""The agent's and judge's command specs, their placeholders and overrides."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from scylla_build.errors import ConfigError
from scylla_build.schema import Table

PLACEHOLDERS = ("experiment_dir", "prompt_file", "workspace", "run_dir",
                "tier", "subtest", "run")
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class CommandSpec:
    """A command as written in the experiment file, with its limits."""

    argv: tuple[str, ...]
    timeout: float
    env: tuple[tuple[str, str], ...]
    inputs: tuple[str, ...]

    def fill(self, values: Mapping[str, str]) -> list[str]:
        """Return the argument list with placeholders filled in."""
        return [arg.format_map(values) for arg in self.argv]


def check_placeholders(table: Table, key: str, argv: list[str]) -> None:
    """Refuse placeholders other than those DESIGN 3 names."""
    for arg in argv:
        try:
            fields = [part[1] for part in _FORMATTER.parse(arg)]
        except ValueError as err:
            table.fail(key, f"has a malformed placeholder in {arg!r} ({err})",
                       "write placeholders as {name} and a literal brace as {{")
        for name in fields:
            if name is not None and name not in PLACEHOLDERS:
                table.fail(key, f"uses the unknown placeholder {{{name}}}",
                           f"use one of {', '.join(PLACEHOLDERS)}")


def read_command(table: Table, *, default_timeout: float,
                 experiment_dir: Path) -> CommandSpec:
    """Read an [agent] or [judge] table."""
    argv = table.string_list("command", example='["python", "agent.py"]')
    if not argv:
        table.fail("command", "must not be empty",
                   'set e.g. command = ["python", "agent.py"]')
    check_placeholders(table, "command", argv)
    timeout = table.seconds("timeout", default_timeout)
    env = table.string_map("env") or {}
    inputs = table.string_list("inputs", [], example='["agent.py"]')
    for index, name in enumerate(inputs):
        check_input(table, f"inputs[{index}]", experiment_dir, name)
    table.finish()
    return CommandSpec(tuple(argv), timeout, tuple(sorted(env.items())),
                       tuple(inputs))


def check_input(table: Table, key: str, experiment_dir: Path, name: str) -> None:
    """Refuse an input file that does not exist."""
    if not (experiment_dir / name).is_file():
        table.fail(key, f"names {name!r}, which is not a file in "
                   f"{experiment_dir}", "create the file or fix the path")


def read_override(table: Table | None, base: CommandSpec) -> CommandSpec:
    """Apply a subtest's agent override table to the experiment's [agent]."""
    if table is None:
        return base
    spec = base
    argv = table.string_list("command", None, example='["python", "agent.py"]')
    if argv is not None:
        if not argv:
            table.fail("command", "must not be empty",
                       "remove it to use [agent].command")
        check_placeholders(table, "command", argv)
        spec = replace(spec, argv=tuple(argv))
    # Read even when absent, so a misspelt key is told that `timeout` exists.
    spec = replace(spec, timeout=table.seconds("timeout", base.timeout))
    env = table.string_map("env")
    if env is not None:
        spec = replace(spec, env=tuple(sorted({**dict(base.env), **env}.items())))
    table.finish()
    return spec


def require_table(table: Table | None, name: str, file: Path) -> Table:
    """Return a section that must be present."""
    if table is None:
        raise ConfigError(file, f"[{name}]", "is required but missing",
                          f"add a [{name}] section")
    return table
