"""Presets: each CLI's documented output read into cost, tokens, turns and errors."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from scylla_build.preset import command, json_values, parse_output
from tests import fakecli


def run_fake(tmp_path: Path, cli: str, mode: str = "success",
             **env: str) -> subprocess.CompletedProcess[str]:
    """Run one fake CLI as the preset would and return what it printed."""
    folder = fakecli.install(tmp_path / "bin")
    return subprocess.run([str(folder / cli), "the prompt"], cwd=tmp_path,
                          env={"FAKE_CLI_MODE": mode, "FAKE_CLI_RESET_IN": "30",
                               **env},
                          capture_output=True, text=True, check=False)


PRESET_OF = {"claude": "claude-code", "codex": "codex", "gemini": "gemini"}
EXPECTED: dict[str, fakecli.Expected] = {
    "claude": fakecli.CLAUDE_SUCCESS, "codex": fakecli.CODEX_SUCCESS,
    "gemini": fakecli.GEMINI_SUCCESS}


def parsed(tmp_path: Path, cli: str, mode: str = "success") -> dict[str, Any]:
    done = run_fake(tmp_path, cli, mode)
    return parse_output(PRESET_OF[cli], done.stdout, done.stderr)


@pytest.mark.parametrize("cli", ["claude", "codex", "gemini"])
def test_parse_success_reads_usage(tmp_path: Path, cli: str) -> None:
    fields = parsed(tmp_path, cli)
    want = dict(EXPECTED[cli])
    assert fields.get("cost_usd") == want.pop("cost")
    assert {key: fields[key] for key in want} == want
    assert fields["is_error"] is False
    assert "rate_limited" not in fields, "a normal answer mentioning a rate limit"
    assert fields["preset"] == PRESET_OF[cli]


@pytest.mark.parametrize("cli", ["claude", "codex", "gemini"])
def test_parse_error_reads_the_cli_message(tmp_path: Path, cli: str) -> None:
    fields = parsed(tmp_path, cli, "error")
    assert fields["is_error"] is True
    assert fields["error_message"] == fakecli.ERROR_MESSAGES[cli]
    assert "rate_limited" not in fields


@pytest.mark.parametrize("cli", ["claude", "codex", "gemini"])
def test_parse_limit_reads_reset_time(tmp_path: Path, cli: str) -> None:
    before = time.time()
    fields = parsed(tmp_path, cli, "limit")
    assert fields["is_error"] is True and fields["rate_limited"] is True
    assert before + 25 < fields["rate_limit_reset"] < before + 40


def test_claude_error_subtype_without_result_text() -> None:
    out = json.dumps({"type": "result", "subtype": "error_max_turns",
                      "is_error": False, "num_turns": 30, "total_cost_usd": 1.5,
                      "usage": {"input_tokens": 10, "output_tokens": 2}})
    fields = parse_output("claude-code", out, "")
    assert (fields["is_error"], fields["error_message"]) == (True, "error_max_turns")
    assert (fields["cost_usd"], fields["turns"], fields["input_tokens"]) == (
        1.5, 30, 10)


def test_claude_api_429_is_a_limit_without_limit_words() -> None:
    out = json.dumps({"type": "result", "subtype": "success", "is_error": True,
                      "api_error_status": 429, "result": "API Error: overloaded"})
    fields = parse_output("claude-code", out, "")
    assert fields["rate_limited"] is True
    assert fields["rate_limit_reset"] is None


def test_claude_verbose_array_takes_the_result_message() -> None:
    out = json.dumps([{"type": "system", "subtype": "init"},
                      {"type": "assistant", "message": {"content": "rate limit"}},
                      {"type": "result", "subtype": "success", "is_error": False,
                       "result": "ok", "num_turns": 2}])
    fields = parse_output("claude-code", out, "")
    assert (fields["is_error"], fields["turns"]) == (False, 2)


def test_codex_recovered_stream_error_is_not_an_error() -> None:
    lines = [{"type": "thread.started", "thread_id": "t"},
             {"type": "error", "message": "Reconnecting... 1/5 (429 Too Many "
                                          "Requests)"},
             {"type": "turn.completed", "usage": {"input_tokens": 5,
                                                  "cached_input_tokens": 0,
                                                  "output_tokens": 1}}]
    fields = parse_output("codex", "\n".join(map(json.dumps, lines)), "")
    assert fields["is_error"] is False and "rate_limited" not in fields


def test_gemini_error_printed_on_stderr_is_read() -> None:
    err = json.dumps({"error": {"type": "ApiError", "message": "quota exceeded",
                                "code": 429}})
    fields = parse_output("gemini", "", err)
    assert (fields["is_error"], fields["rate_limited"]) == (True, True)


def test_unreadable_output_is_an_error_naming_stderr() -> None:
    fields = parse_output("codex", "not json at all\n", "boom\nError: no auth\n")
    assert fields["is_error"] is True
    assert "Error: no auth" in fields["error_message"]


def test_json_values_reads_documents_and_lines() -> None:
    assert json_values('{"a": 1}') == [{"a": 1}]
    assert json_values("[1, 2]") == [1, 2]
    assert json_values('{"a": 1}\nwarning\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]


def test_commands_switch_machine_readable_output_on() -> None:
    assert command("claude-code", binary=None, model=None, args=[],
                   prompt="p") == ["claude", "--output-format", "json", "-p", "p"]
    assert command("codex", binary="/opt/codex", model="o3", args=["--full-auto"],
                   prompt="p") == ["/opt/codex", "exec", "--json", "--model", "o3",
                                   "--full-auto", "p"]
    assert command("gemini", binary=None, model=None, args=["--yolo"],
                   prompt="p") == ["gemini", "--output-format", "json", "--yolo",
                                   "--prompt", "p"]
