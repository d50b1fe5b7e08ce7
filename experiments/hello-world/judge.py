"""Judge the hello-world task by running the code the agent left behind.

Run as ``python judge.py`` with the workspace as the current directory. Each
check runs in its own subprocess with a timeout, so a broken, hanging or
noisy module fails its check instead of crashing the judge.

Exit 0 when every check passes, 1 when any fails. Any other exit code means
the judge itself broke. If ``SCYLLA_JUDGE_RESULT`` is set, the score (the
fraction of checks passed) and the details are written there as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

CHECK_TIMEOUT = 10.0
NAMES = ("world", "Ada", "Grace Hopper")

# Run greet() with its own prints swallowed, then print only repr(result).
CALL_GREET = """\
import contextlib, io, os, sys
sys.path.insert(0, os.getcwd())
from greeting import greet
with contextlib.redirect_stdout(io.StringIO()):
    result = greet(sys.argv[1])
sys.stdout.write(repr(result))
"""


@dataclass(frozen=True)
class Check:
    """One check: what was tried, whether it passed, and what was seen."""

    name: str
    passed: bool
    detail: str


def child_env() -> dict[str, str]:
    """Return the environment for the checked programs."""
    env = dict(os.environ)
    # The workspace's own folder must be importable, as with a plain `python`.
    env.pop("PYTHONSAFEPATH", None)
    # Leave no __pycache__ behind in the workspace.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_python(args: list[str]) -> subprocess.CompletedProcess[str] | str:
    """Run the current interpreter; return the result or why it did not end."""
    try:
        return subprocess.run(
            [sys.executable, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=child_env(),
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"did not finish within {CHECK_TIMEOUT:g} seconds"


def last_line(text: str) -> str:
    """Return the last non-empty line of ``text``, for short error details."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def check_greet(name: str) -> Check:
    """Check that ``greet(name)`` returns exactly ``Hello, <name>!``."""
    label = f"greet({name!r})"
    expected = f"Hello, {name}!"
    done = run_python(["-c", CALL_GREET, name])
    if isinstance(done, str):
        return Check(label, passed=False, detail=done)
    if done.returncode != 0:
        return Check(label, passed=False, detail=f"raised: {last_line(done.stderr)}")
    if not done.stdout:
        return Check(label, passed=False, detail="exited without returning a value")
    if done.stdout != repr(expected):
        return Check(
            label, passed=False, detail=f"returned {done.stdout}, expected {expected!r}"
        )
    return Check(label, passed=True, detail=f"returned {done.stdout}")


def check_hello_script() -> Check:
    """Check that ``python hello.py`` prints exactly ``Hello, world!``."""
    label = "python hello.py"
    if not Path("hello.py").is_file():
        return Check(label, passed=False, detail="hello.py does not exist")
    done = run_python(["hello.py"])
    if isinstance(done, str):
        return Check(label, passed=False, detail=done)
    if done.returncode != 0:
        return Check(
            label,
            passed=False,
            detail=f"exit {done.returncode}: {last_line(done.stderr)}",
        )
    if done.stdout.rstrip("\r\n") != "Hello, world!":
        return Check(
            label,
            passed=False,
            detail=f"printed {done.stdout!r}, expected 'Hello, world!\\n'",
        )
    return Check(label, passed=True, detail="printed 'Hello, world!'")


def write_result(checks: list[Check]) -> None:
    """Write the score and details where scylla-build asked for them."""
    result_path = os.environ.get("SCYLLA_JUDGE_RESULT")
    if not result_path:
        return
    score = sum(check.passed for check in checks) / len(checks)
    payload = {"score": score, "details": [asdict(check) for check in checks]}
    Path(result_path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    """Run every check, print and record them, return the exit code."""
    checks = [check_greet(name) for name in NAMES]
    checks.append(check_hello_script())
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'} {check.name}: {check.detail}")
    write_result(checks)
    passed = sum(check.passed for check in checks)
    print(f"{passed}/{len(checks)} checks passed")
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
