"""Agent CLI presets: the non-interactive command of a known CLI, and its output.

Each preset builds the command line with the CLI's machine-readable output
switched on and reads that output into the fields of `usage` plus
`is_error`, `error_message`, `rate_limited` and `rate_limit_reset`. The
formats are the ones each CLI documents:

* claude-code: `claude -p --output-format json` prints one result object with
  `is_error`, `result`, `subtype`, `num_turns`, `total_cost_usd` and `usage`
  (`input_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`,
  `output_tokens`); an API failure may add `api_error_status`.
* codex: `codex exec --json` prints JSON Lines events; `turn.completed`
  carries `usage` (`input_tokens`, `cached_input_tokens`, `output_tokens`),
  `turn.failed` an `error.message`, and `error` a stream error `message`.
  Codex reports no price, so `cost_usd` stays absent.
* gemini: `gemini --output-format json` prints one object with `response`,
  `stats.models.<model>.tokens` (`prompt`, `candidates`, `cached`,
  `thoughts`), `stats.models.<model>.api.totalRequests`, and on failure
  `error` (`type`, `message`, `code`). No price either; `turns` counts the
  model requests.

A rate limit is taken only from an output that flags an error: a 429 status,
or an error message about a rate, usage or quota limit.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from scylla_build.ratelimit import retry_after
from scylla_build.usage import count, number, total

Fields = dict[str, Any]
_LIMIT_WORDS = re.compile(
    r"\b429\b|rate[ _-]?limit|usage limit|too many requests|quota|"
    r"resource[ _]exhausted|hit your limit", re.IGNORECASE)
# Claude Code ends a usage-limit message with "|<epoch seconds>".
_CLAUDE_RESET = re.compile(r"\|(\d{9,})\s*$")
_STDERR_TAIL = 300


class PresetName(str, enum.Enum):
    """The agent CLIs scylla-build knows how to run and read."""

    CLAUDE_CODE = "claude-code"
    CODEX = "codex"
    GEMINI = "gemini"


@dataclass(frozen=True)
class Preset:
    """How to run one CLI and read what it prints."""

    name: PresetName
    binary: str
    # Bump when the command or the reading changes: it is part of the signature.
    version: int
    build: Callable[[str, str | None, list[str], str], list[str]]
    parse: Callable[[str], Fields]


def command(name: str, *, binary: str | None, model: str | None,
            args: list[str], prompt: str) -> list[str]:
    """Return the argument list that runs a preset's CLI on the prompt."""
    preset = PRESETS[PresetName(name)]
    return preset.build(binary or preset.binary, model, args, prompt)


def parse_output(name: str, stdout: str, stderr: str) -> Fields:
    """Read a preset CLI's output into result fields; a missing one is an error."""
    preset = PRESETS[PresetName(name)]
    # Some CLI versions print their JSON error object on standard error.
    fields = preset.parse(stdout) or preset.parse(stderr)
    if not fields:
        fields = {"is_error": True, "error_message": _unreadable(preset, stderr)}
    return {"preset": preset.name.value, **fields}


def _unreadable(preset: Preset, stderr: str) -> str:
    tail = stderr.strip().splitlines()[-1:] if stderr.strip() else []
    said = f"; its last error line: {tail[0][:_STDERR_TAIL]}" if tail else ""
    return (f"{preset.name.value} printed none of its documented JSON output "
            f"(see agent/stdout.log){said}")


def _claude_command(binary: str, model: str | None, args: list[str],
                    prompt: str) -> list[str]:
    # The user's args come first: an option after them ends a variadic one
    # such as `--allowedTools A B`, which would otherwise take the prompt.
    return [binary, *args, *_model(model), "--output-format", "json",
            "-p", prompt]


def _codex_command(binary: str, model: str | None, args: list[str],
                   prompt: str) -> list[str]:
    return [binary, "exec", "--json", *_model(model), *args, prompt]


def _gemini_command(binary: str, model: str | None, args: list[str],
                    prompt: str) -> list[str]:
    return [binary, "--output-format", "json", *_model(model), *args,
            "--prompt", prompt]


def _model(model: str | None) -> list[str]:
    return ["--model", model] if model else []


def json_values(text: str) -> list[Any]:
    """Read a whole JSON document, else one JSON value per line (JSON Lines)."""
    try:
        whole = json.loads(text)
    except ValueError:
        values = []
        for line in text.splitlines():
            try:
                values.append(json.loads(line))
            except ValueError:
                continue  # a CLI may print a warning among its events
        return values
    return list(whole) if isinstance(whole, list) else [whole]


def _last(values: Iterable[Any], wanted: Callable[[dict[str, Any]], bool]) -> Fields:
    found: Fields = {}
    for value in values:
        if isinstance(value, dict) and wanted(value):
            found = value
    return found


def _table(value: object) -> Fields:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _error(is_error: bool, message: str, reset: float | None = None, *,
           kind: str = "") -> Fields:
    """Return the error and rate-limit fields common to every preset."""
    if not is_error:
        return {"is_error": False}
    fields: Fields = {"is_error": True, "error_message": message or kind or "error"}
    if _LIMIT_WORDS.search(f"{kind} {message}"):
        fields.update(rate_limited=True,
                      rate_limit_reset=reset or retry_after(message))
    return fields


def _claude(stdout: str) -> Fields:
    message = _last(json_values(stdout), lambda v: v.get("type") == "result")
    if not message:
        return {}
    usage = _table(message.get("usage"))
    read = count(usage.get("cache_read_input_tokens"))
    subtype = _text(message.get("subtype"))
    is_error = message.get("is_error") is True or subtype.startswith("error")
    errors = [_text(item) for item in message.get("errors") or [] if _text(item)]
    said = _text(message.get("result")) or "; ".join(errors) or subtype
    fields: Fields = {
        "cost_usd": number(message.get("total_cost_usd",
                                       message.get("cost_usd"))),
        "input_tokens": total(usage.get("input_tokens"),
                              usage.get("cache_creation_input_tokens"), read),
        "output_tokens": count(usage.get("output_tokens")),
        "cached_tokens": read, "turns": count(message.get("num_turns")),
        "session_id": message.get("session_id")}
    reset = _CLAUDE_RESET.search(said)
    fields.update(_error(is_error, said, float(reset.group(1)) if reset else None))
    if is_error and message.get("api_error_status") == 429:
        fields.setdefault("rate_limited", True)
        fields.setdefault("rate_limit_reset", retry_after(said))
    return fields


def _codex(stdout: str) -> Fields:
    events = [v for v in json_values(stdout) if isinstance(v, dict) and "type" in v]
    if not events:
        return {}
    kinds = [event["type"] for event in events]
    usages = [_table(e.get("usage")) for e in events if e["type"] == "turn.completed"]
    failures = [_text(_table(e.get("error")).get("message"))
                for e in events if e["type"] == "turn.failed"]
    stream_errors = [_text(e.get("message")) for e in events if e["type"] == "error"]
    completed = "turn.completed" in kinds
    # Codex also reports retries it recovered from as `error` events: only
    # a failed turn, or an error with no completed turn, ends the run badly.
    is_error = bool(failures) or not completed
    said = (failures or stream_errors or
            ["the event stream has no turn.completed event"])[-1]
    return {
        "input_tokens": total(*(u.get("input_tokens") for u in usages)),
        "output_tokens": total(*(u.get("output_tokens") for u in usages)),
        "cached_tokens": total(*(u.get("cached_input_tokens") for u in usages)),
        "turns": len(usages) + len(failures),
        **_error(is_error, said)}


def _gemini(stdout: str) -> Fields:
    document = _last(json_values(stdout),
                     lambda v: bool({"response", "stats", "error"} & v.keys()))
    if not document:
        return {}
    models = [_table(m) for m in _table(_table(document.get("stats"))
                                        .get("models")).values()]
    tokens = [_table(m.get("tokens")) for m in models]
    error = document.get("error")
    failure = _table(error)
    said = _text(failure.get("message"))
    fields: Fields = {
        "input_tokens": total(*(t.get("prompt") for t in tokens)),
        "output_tokens": total(*(t.get(k) for t in tokens
                                 for k in ("candidates", "thoughts"))),
        "cached_tokens": total(*(t.get("cached") for t in tokens)),
        "turns": total(*(_table(m.get("api")).get("totalRequests") for m in models)),
        **_error(error is not None, said, kind=_text(failure.get("type")))}
    if error is not None and failure.get("code") == 429:
        fields.setdefault("rate_limited", True)
        fields.setdefault("rate_limit_reset", retry_after(said))
    return fields


PRESETS = {
    PresetName.CLAUDE_CODE: Preset(PresetName.CLAUDE_CODE, "claude", 1,
                                   _claude_command, _claude),
    PresetName.CODEX: Preset(PresetName.CODEX, "codex", 1, _codex_command, _codex),
    PresetName.GEMINI: Preset(PresetName.GEMINI, "gemini", 1,
                              _gemini_command, _gemini),
}
