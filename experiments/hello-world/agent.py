"""A scripted stand-in for a coding agent, deterministic and offline.

Run as ``python agent.py PROMPT_FILE`` with the workspace as the current
directory. What it writes depends only on the workspace and ``AGENT_MODE``:

* no ``STYLE.md`` in the workspace: it guesses the format and drops the comma
  and the exclamation mark, a plausible slip the judge must catch;
* ``STYLE.md`` present: it follows the stated format exactly;
* ``AGENT_MODE=hurried``: it implements ``greet`` but never writes
  ``hello.py``, so only part of the task is done.

If ``SCYLLA_AGENT_RESULT`` is set, it writes its usage there as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HINT_FILE = Path("STYLE.md")
MODES = ("careful", "hurried")

GREETING_TEMPLATE = '''\
"""Greet people by name."""

from __future__ import annotations


def greet(name: str) -> str:
    """Return a greeting for ``name``."""
    return {expression}
'''

HELLO_SCRIPT = '''\
"""Print the greeting for the world."""

from __future__ import annotations

from greeting import greet

if __name__ == "__main__":
    print(greet("world"))
'''

CORRECT = 'f"Hello, {name}!"'
# Without the hint the agent reads "Hello <name>" and leaves out punctuation.
GUESSED = 'f"Hello {name}"'


def estimate_tokens(text: str) -> int:
    """Return a rough token count: one token per four characters."""
    return (len(text) + 3) // 4


def write(path: Path, text: str, log: list[str]) -> None:
    """Write ``text`` to ``path`` and note it in the log."""
    path.write_text(text, encoding="utf-8", newline="\n")
    log.append(f"wrote {path} ({len(text)} characters)")


def act(mode: str, log: list[str]) -> str:
    """Edit the workspace as the scripted agent would; return all it wrote."""
    if HINT_FILE.is_file():
        log.append(f"read {HINT_FILE}: greetings are 'Hello, <name>!'")
        expression = CORRECT
    else:
        log.append(f"no {HINT_FILE}; guessing the format 'Hello <name>'")
        expression = GUESSED
    greeting = GREETING_TEMPLATE.format(expression=expression)
    write(Path("greeting.py"), greeting, log)
    if mode == "hurried":
        log.append("hurried: stopping before hello.py")
        return greeting
    write(Path("hello.py"), HELLO_SCRIPT, log)
    return greeting + HELLO_SCRIPT


def record_usage(prompt: str, written: str) -> dict[str, object]:
    """Return usage figures derived only from what was read and written."""
    hint = HINT_FILE.read_text(encoding="utf-8") if HINT_FILE.is_file() else ""
    return {
        "cost_usd": 0.0,
        "input_tokens": estimate_tokens(prompt) + estimate_tokens(hint),
        "output_tokens": estimate_tokens(written),
        "turns": 1,
    }


def main(argv: list[str]) -> int:
    """Read the prompt, edit the workspace and report usage."""
    args = argv[1:]
    if len(args) != 1:
        print("usage: agent.py PROMPT_FILE", file=sys.stderr)
        return 2
    prompt_file = Path(args[0])
    prompt = prompt_file.read_text(encoding="utf-8")
    mode = os.environ.get("AGENT_MODE", "careful")
    if mode not in MODES:
        print(
            f"agent.py: AGENT_MODE must be one of {MODES}, found {mode!r}",
            file=sys.stderr,
        )
        return 2
    log = [f"read prompt {prompt_file.name} ({len(prompt)} characters), mode {mode}"]
    written = act(mode, log)
    usage = record_usage(prompt, written)
    result_path = os.environ.get("SCYLLA_AGENT_RESULT")
    if result_path:
        Path(result_path).write_text(
            json.dumps(usage, indent=2) + "\n", encoding="utf-8"
        )
        log.append("usage written to $SCYLLA_AGENT_RESULT")
    print("\n".join(log))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
