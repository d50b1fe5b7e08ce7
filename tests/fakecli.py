"""Fake agent CLIs (`claude`, `codex`, `gemini`) that print their documented output.

Each is the same small Python script, installed under the CLI's name in a
folder that tests put first on PATH. The name it was called by picks the
output format; environment variables pick the behaviour:

* FAKE_CLI_MODE: `success` (default), `error` or `limit`.
* FAKE_CLI_LIMIT_FIRST=N: the first N calls, counted across processes, report
  a rate limit, the rest succeed.
* FAKE_CLI_RESET_IN: seconds from now at which a reported limit lifts (3).
* FAKE_CLI_COST: the cost Claude Code reports (0.0421).
* FAKE_CLI_SLEEP: seconds to work before answering (0).
* FAKE_CLI_LOG: a file that gets one JSON line per call (CLI, run, argv,
  start and end times, what it reported).

On success the CLI writes answer.txt = "right", which the test judge passes,
and answers with text that mentions a "rate limit": a normal answer that
must never be taken for one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ANSWER = "Wrote answer.txt; no rate limit was hit."
# What each CLI's documented success output adds up to, as result.json reports it.
Expected = dict[str, float | None]
CLAUDE_SUCCESS: Expected = {"cost": 0.0421, "input_tokens": 950, "output_tokens": 45,
                  "cached_tokens": 800, "turns": 4}
CODEX_SUCCESS: Expected = {"cost": None, "input_tokens": 24763, "output_tokens": 122,
                 "cached_tokens": 24448, "turns": 1}
GEMINI_SUCCESS: Expected = {"cost": None, "input_tokens": 33904, "output_tokens": 214,
                  "cached_tokens": 21263, "turns": 3}
ERROR_MESSAGES = {
    "claude": "API Error: 401 authentication_error: invalid x-api-key",
    "codex": "unexpected status 401 Unauthorized: Missing bearer authentication",
    "gemini": "Please set an Auth method in your settings.json",
}

SCRIPT = r'''
import fcntl, json, os, sys, time

cli = os.path.basename(sys.argv[0])
started = time.time()
mode = os.environ.get("FAKE_CLI_MODE", "success")
first = int(os.environ.get("FAKE_CLI_LIMIT_FIRST", "0"))
if first:
    counter = os.environ["FAKE_CLI_COUNTER"]
    with open(counter + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        calls = int(open(counter).read()) if os.path.exists(counter) else 0
        open(counter, "w").write(str(calls + 1))
    mode = "limit" if calls < first else "success"
time.sleep(float(os.environ.get("FAKE_CLI_SLEEP", "0")))
reset_in = float(os.environ.get("FAKE_CLI_RESET_IN", "3"))
reset = int(time.time() + reset_in + 0.999)
answer = "Wrote answer.txt; no rate limit was hit."
if mode == "success":
    with open("answer.txt", "w") as handle:
        handle.write("right")


def claude():
    usage = {"input_tokens": 120, "cache_creation_input_tokens": 30,
             "cache_read_input_tokens": 800, "output_tokens": 45,
             "server_tool_use": {"web_search_requests": 0},
             "service_tier": "standard"}
    result = {"type": "result", "subtype": "success", "is_error": False,
              "duration_ms": 2210, "duration_api_ms": 1980, "num_turns": 4,
              "result": answer, "session_id": "6f1c-fake",
              "total_cost_usd": float(os.environ.get("FAKE_CLI_COST", "0.0421")),
              "usage": usage, "permission_denials": []}
    if mode == "error":
        result.update(is_error=True, num_turns=1, result=ERRORS["claude"])
    if mode == "limit":
        result.update(is_error=True, num_turns=1, total_cost_usd=0,
                      result=f"Claude AI usage limit reached|{reset}")
    print(json.dumps(result))
    return 1 if result["is_error"] else 0


def codex():
    events = [{"type": "thread.started", "thread_id": "0199a213-fake"},
              {"type": "turn.started"},
              {"type": "item.completed",
               "item": {"id": "item_0", "type": "reasoning",
                        "text": "**Writing the answer**"}}]
    if mode == "success":
        events += [{"type": "item.completed",
                    "item": {"id": "item_1", "type": "agent_message",
                             "text": answer}},
                   {"type": "turn.completed",
                    "usage": {"input_tokens": 24763, "cached_input_tokens": 24448,
                              "output_tokens": 122}}]
    else:
        message = ERRORS["codex"] if mode == "error" else (
            "You've hit your usage limit. Upgrade to Pro or try again in "
            f"{reset_in:g} seconds.")
        events += [{"type": "error", "message": "Reconnecting... 1/5"},
                   {"type": "turn.failed", "error": {"message": message}}]
    for event in events:
        print(json.dumps(event))
    return 0 if mode == "success" else 1


def gemini():
    stats = {"models": {
        "gemini-2.5-pro": {
            "api": {"totalRequests": 2, "totalErrors": 0, "totalLatencyMs": 5053},
            "tokens": {"prompt": 24939, "candidates": 20, "total": 25113,
                       "cached": 21263, "thoughts": 154, "tool": 0}},
        "gemini-2.5-flash": {
            "api": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 1879},
            "tokens": {"prompt": 8965, "candidates": 10, "total": 9033,
                       "cached": 0, "thoughts": 30, "tool": 28}}},
        "tools": {"totalCalls": 1, "totalSuccess": 1, "totalFail": 0,
                  "totalDurationMs": 1881},
        "files": {"totalLinesAdded": 1, "totalLinesRemoved": 0}}
    document = {"response": answer, "stats": stats}
    if mode == "error":
        document = {"error": {"type": "FatalAuthenticationError",
                              "message": ERRORS["gemini"], "code": 41}}
    if mode == "limit":
        document = {"error": {"type": "TerminalQuotaError", "code": 429,
                              "message": "You have exhausted your capacity on "
                                         f"this model. Please retry in {reset_in:g}s."}}
    print(json.dumps(document, indent=2))
    return 0 if mode == "success" else 1


ERRORS = ERRORS_PLACEHOLDER
code = {"claude": claude, "codex": codex, "gemini": gemini}[cli]()
if os.environ.get("FAKE_CLI_LOG"):
    key = ":".join(os.environ.get(k, "") for k in
                   ("SCYLLA_TIER", "SCYLLA_SUBTEST", "SCYLLA_RUN"))
    with open(os.environ["FAKE_CLI_LOG"], "a") as handle:
        handle.write(json.dumps({"cli": cli, "run": key, "argv": sys.argv[1:],
                                 "mode": mode, "start": started,
                                 "end": time.time()}) + "\n")
sys.exit(code)
'''


def install(folder: Path) -> Path:
    """Write the three fake CLIs into `folder`; return it (put it first on PATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = SCRIPT.replace("ERRORS_PLACEHOLDER", repr(ERROR_MESSAGES))
    for name in ("claude", "codex", "gemini"):
        path = folder / name
        path.write_text(f"#!{sys.executable}\n{text}")
        path.chmod(0o755)
    return folder


def path_with(folder: Path) -> str:
    """Return PATH with `folder` first."""
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
