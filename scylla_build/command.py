"""The agent's and judge's command specs, their placeholders and overrides."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from scylla_build import preset as presets
from scylla_build.errors import ConfigError
from scylla_build.ratelimit import RateLimitRule, read_rule
from scylla_build.schema import Table

PLACEHOLDERS = ("experiment_dir", "prompt_file", "workspace", "run_dir",
                "tier", "subtest", "run")
_FORMATTER = string.Formatter()
_EXPERIMENT_FILE = re.compile(r"\{experiment_dir\}/([^{}]+)")


PRESET_NAMES = tuple(name.value for name in presets.PresetName)


@dataclass(frozen=True)
class CommandSpec:
    """A command as written in the experiment file, with its limits.

    With a `preset`, `argv` is empty and the command line is built from the
    preset, `model`, `args` and `binary` when the run starts.
    """

    argv: tuple[str, ...]
    timeout: float
    env: tuple[tuple[str, str], ...]
    inputs: tuple[str, ...]
    preset: str | None = None
    model: str | None = None
    args: tuple[str, ...] = ()
    binary: str | None = None
    rate_limit: RateLimitRule | None = None

    def fill(self, values: Mapping[str, str]) -> list[str]:
        """Return the argument list with placeholders filled in.

        A preset passes the prompt file's text as an argument, as each CLI's
        non-interactive mode expects.
        """
        if self.preset is None:
            return [arg.format_map(values) for arg in self.argv]
        prompt = Path(values["prompt_file"]).read_text(encoding="utf-8")
        binary = self.binary.format_map(values) if self.binary else None
        return presets.command(self.preset, binary=binary, model=self.model,
                               args=[arg.format_map(values) for arg in self.args],
                               prompt=prompt)


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


def read_command(table: Table, *, default_timeout: float, experiment_dir: Path,
                 presets_allowed: bool = False) -> CommandSpec:
    """Read an [agent] or [judge] table; only the agent may name a preset."""
    choice = _read_choice(table) if presets_allowed else PresetChoice()
    argv = table.string_list("command", [] if choice.preset else None,
                             example='["python", "agent.py"]')
    if argv is None:
        table.fail("command", "is required but missing",
                   'set e.g. command = ["python", "agent.py"]'
                   + (' or preset = "claude-code"' if presets_allowed else ""))
    if choice.preset and argv:
        _both(table)
    if not choice.preset and not argv:
        table.fail("command", "must not be empty",
                   'set e.g. command = ["python", "agent.py"]')
    if not choice.preset and choice.written:
        table.fail(choice.written[0], "applies only to a preset, and no preset "
                   "is set", f"add preset = one of {', '.join(PRESET_NAMES)}, "
                   f"or remove {choice.written[0]}")
    check_placeholders(table, "command", argv)
    timeout = table.seconds("timeout", default_timeout)
    env = table.string_map("env") or {}
    inputs = table.string_list("inputs", [], example='["agent.py"]')
    for index, name in enumerate(inputs):
        check_input(table, f"inputs[{index}]", experiment_dir, name)
    rule = read_rule(table.table("rate_limit"))
    table.finish()
    return CommandSpec(tuple(argv), timeout, tuple(sorted(env.items())),
                       tuple(inputs), choice.preset, choice.model, choice.args,
                       choice.binary, rule)


@dataclass(frozen=True)
class PresetChoice:
    """The preset keys one table sets; `written` names the non-preset ones."""

    preset: str | None = None
    model: str | None = None
    args: tuple[str, ...] = ()
    binary: str | None = None
    written: tuple[str, ...] = ()

    def apply(self, spec: CommandSpec) -> CommandSpec:
        """Override a spec's model, args and binary with those written here."""
        return replace(
            spec,
            model=self.model if "model" in self.written else spec.model,
            args=self.args if "args" in self.written else spec.args,
            binary=self.binary if "binary" in self.written else spec.binary)


def _read_choice(table: Table) -> PresetChoice:
    """Read `preset` and the keys that go with it."""
    name = table.string("preset", None, example='"claude-code"')
    if name is not None and name not in PRESET_NAMES:
        table.fail("preset", f"names no known preset, found {name!r}",
                   f"use one of {', '.join(PRESET_NAMES)}, or a bare command")
    model = table.string("model", None, example='"claude-sonnet-4-5"')
    args = table.string_list("args", None, example='["--max-turns", "30"]')
    binary = table.string("binary", None, example='"/usr/local/bin/claude"')
    check_placeholders(table, "args", args or [])
    check_placeholders(table, "binary", [binary] if binary else [])
    written = tuple(key for key, value in
                    (("model", model), ("args", args), ("binary", binary))
                    if value is not None)
    return PresetChoice(name, model, tuple(args or ()), binary, written)


def _both(table: Table) -> None:
    table.fail("preset", "is set together with command",
               "keep one: preset runs a known agent CLI, command runs any "
               "program")


def signed_inputs(spec: CommandSpec, experiment_dir: Path) -> tuple[str, ...]:
    """Return the files whose content signs a command.

    Those listed in `inputs`, plus each file the command names as
    `{experiment_dir}/...`: a script run by the command is an input whether
    or not the user remembered to list it.
    """
    named = {match.group(1) for arg in spec.argv
             if (match := _EXPERIMENT_FILE.fullmatch(arg))
             and (experiment_dir / match.group(1)).is_file()}
    return tuple(sorted(set(spec.inputs) | named))


def check_input(table: Table, key: str, experiment_dir: Path, name: str) -> None:
    """Refuse an input file that does not exist."""
    if not (experiment_dir / name).is_file():
        table.fail(key, f"names {name!r}, which is not a file in "
                   f"{experiment_dir}", "create the file or fix the path")


def read_override(table: Table | None, base: CommandSpec) -> CommandSpec:
    """Apply a subtest's agent override table to the experiment's [agent].

    A `command` turns the subtest into a bare command; a `preset` other than
    [agent]'s starts from no `model`, `args` or `binary` of [agent].
    """
    if table is None:
        return base
    spec = _override_program(table, base)
    # Read even when absent, so a misspelt key is told that `timeout` exists.
    spec = replace(spec, timeout=table.seconds("timeout", base.timeout))
    env = table.string_map("env")
    if env is not None:
        spec = replace(spec, env=tuple(sorted({**dict(base.env), **env}.items())))
    table.finish()
    return spec


def _override_program(table: Table, base: CommandSpec) -> CommandSpec:
    """Apply a subtest's `command`, or its `preset` with `model`, `args`, `binary`."""
    spec = base
    choice = _read_choice(table)
    argv = table.string_list("command", None, example='["python", "agent.py"]')
    if argv is not None:
        if not argv:
            table.fail("command", "must not be empty",
                       "remove it to use [agent].command")
        if choice.preset:
            _both(table)
        check_placeholders(table, "command", argv)
        spec = replace(spec, argv=tuple(argv), preset=None, model=None, args=(),
                       binary=None)
    if choice.preset is not None and choice.preset != spec.preset:
        spec = replace(spec, argv=(), preset=choice.preset, model=None, args=(),
                       binary=None)
    if choice.written and spec.preset is None:
        table.fail(choice.written[0], "applies only to a preset, and this "
                   "subtest runs a bare command",
                   f"set agent.preset, or remove {choice.written[0]}")
    return choice.apply(spec)


def require_table(table: Table | None, name: str, file: Path) -> Table:
    """Return a section that must be present."""
    if table is None:
        raise ConfigError(file, f"[{name}]", "is required but missing",
                          f"add a [{name}] section")
    return table
