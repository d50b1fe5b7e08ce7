"""Build the toy source repository and ship it as ``source.bundle``.

The files, names, emails and dates are fixed, so every run produces the same
commit sha: running this script again must not invalidate the experiment.

Usage: ``python make_source.py [--output PATH]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

FILES: dict[str, str] = {
    "README.md": (
        "# greeting\n"
        "\n"
        "A toy project used by the scylla-build `hello-world` example.\n"
        "It holds one unfinished module, `greeting.py`, for an agent to\n"
        "complete. Nothing here is meant for real use.\n"
    ),
    "greeting.py": (
        '"""Greet people by name."""\n'
        "\n"
        "from __future__ import annotations\n"
        "\n"
        "\n"
        "def greet(name: str) -> str:\n"
        '    """Return a greeting for ``name``."""\n'
        '    raise NotImplementedError("greet is not written yet")\n'
    ),
}

COMMIT_MESSAGE = "Start the greeting project\n"
IDENTITY = "Scylla Example"
EMAIL = "example@scylla-build.invalid"
# A fixed date with a fixed zone: the sha depends on both.
DATE = "2024-01-01T00:00:00+00:00"


def git_env() -> dict[str, str]:
    """Return an environment that makes git deterministic and unconfigured."""
    # Inherited GIT_* variables (e.g. from a hook) would point git elsewhere.
    env = {key: val for key, val in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME=IDENTITY,
        GIT_AUTHOR_EMAIL=EMAIL,
        GIT_AUTHOR_DATE=DATE,
        GIT_COMMITTER_NAME=IDENTITY,
        GIT_COMMITTER_EMAIL=EMAIL,
        GIT_COMMITTER_DATE=DATE,
        # A user's config could sign commits or convert line endings.
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its standard output, stripped."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=git_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def write_files(repo: Path) -> None:
    """Write the inline files into ``repo`` with ordinary permissions."""
    for relative, text in FILES.items():
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        path.chmod(0o644)


def build_bundle(output: Path) -> str:
    """Create the repository in a temporary folder, bundle it, return the sha."""
    with tempfile.TemporaryDirectory(prefix="hello-world-source-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        write_files(repo)
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "--no-verify", "--message", COMMIT_MESSAGE)
        sha = git(repo, "rev-parse", "HEAD")
        staged = Path(tmp) / "source.bundle"
        git(repo, "bundle", "create", "--quiet", str(staged), "HEAD", "main")
        output.parent.mkdir(parents=True, exist_ok=True)
        # Copy then rename, so a reader never sees half a bundle.
        partial = output.with_name(output.name + ".partial")
        partial.write_bytes(staged.read_bytes())
        partial.replace(output)
    return sha


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, build the bundle and print its commit sha."""
    parser = argparse.ArgumentParser(
        description="Build the toy source repository as a git bundle."
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "source.bundle",
        help="where to write the bundle (default: beside this script)",
    )
    args = parser.parse_args(argv)
    sha = build_bundle(args.output)
    print(f"{args.output}: main = {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
