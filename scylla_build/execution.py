"""Executing a run: lay out the workspace, run the agent, run the judge.

Nothing here writes the checkpoint (DESIGN 9): each step takes a run spec and
returns what happened, so the same steps could run on another machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from scylla_build import overlay, preset
from scylla_build.outcome import ProcessOutcome
from scylla_build.process import Invocation, invoke
from scylla_build.run import RunSpec
from scylla_build.worktree import Worktrees, commit_base, reset_to, write_diff

AGENT_RESULT_VARIABLE = "SCYLLA_AGENT_RESULT"
JUDGE_RESULT_VARIABLE = "SCYLLA_JUDGE_RESULT"
REPORTED_NAME = "reported.json"


def _worktrees(spec: RunSpec) -> Worktrees:
    spec.experiment.source.ensure_cached()
    return Worktrees(spec.layout)


def prepare_workspace(spec: RunSpec) -> str:
    """Create the worktree at the base (the pinned commit plus the overlay).

    The first run of a subtest lays the overlay on the pinned commit and
    commits it; later runs check the worktree out at that commit directly.
    Both lay the overlay over the checkout, since a file the source's
    .gitignore matches is in no commit. Return the base.
    """
    workspace = spec.paths.workspace
    worktrees = _worktrees(spec)
    commit = spec.experiment.source.resolve()
    # The overlay is fingerprinted again here rather than taken from the
    # signature computed at load: the base must be named by the files laid
    # now, or an overlay edited during a build would file a base under the
    # fingerprint of files it does not hold. The walk is small beside the add.
    made_from = f"{commit}\0{overlay.fingerprint(spec.subtest.overlay)}"
    known = worktrees.base(spec.key, made_from)
    worktrees.create(spec.key, known or commit)
    overlay.lay(spec.subtest.overlay, workspace)
    if known is not None:
        return known
    base = commit_base(workspace, f"scylla-build: overlay of {spec.subtest.key}")
    worktrees.keep_base(spec.key, made_from, base)
    return base


def reset_workspace(spec: RunSpec, base: str) -> None:
    """Return an existing workspace to its base commit, in place."""
    workspace = spec.paths.workspace
    _worktrees(spec).repair(workspace)
    reset_to(workspace, base)


def remove_workspace(spec: RunSpec) -> None:
    """Remove a run's worktree and its registration."""
    _worktrees(spec).remove(spec.paths.workspace)


def run_agent(spec: RunSpec, base: str) -> ProcessOutcome:
    """Run the agent in the workspace, then write its diff and result.json."""
    paths = spec.paths
    agent = spec.subtest.agent
    reported = paths.agent_dir / REPORTED_NAME
    outcome = invoke(Invocation(
        argv=agent.fill(spec.placeholders()), cwd=paths.workspace,
        env=spec.environment(agent, AGENT_RESULT_VARIABLE, str(reported)),
        timeout=agent.timeout, log_dir=paths.agent_dir, result_file=reported))
    if agent.preset is not None and outcome.start_error is None:
        outcome.result = {**outcome.result,
                          **read_preset_output(agent.preset, paths.agent_dir)}
    write_diff(paths.workspace, base, paths.diff)
    write_json(paths.agent_dir / "result.json", outcome.to_dict())
    return outcome


def read_preset_output(name: str, log_dir: Path) -> dict[str, Any]:
    """Read what a preset's CLI printed (kept as is in its logs) into fields."""
    stdout, stderr = (
        (log_dir / log).read_text(encoding="utf-8", errors="replace")
        for log in ("stdout.log", "stderr.log"))
    return preset.parse_output(name, stdout, stderr)


def run_judge(spec: RunSpec) -> ProcessOutcome:
    """Run the judge in the workspace and write its result.json."""
    paths = spec.paths
    judge = spec.experiment.judge
    reported = paths.judge_dir / REPORTED_NAME
    outcome = invoke(Invocation(
        argv=judge.fill(spec.placeholders()), cwd=paths.workspace,
        env=spec.environment(judge, JUDGE_RESULT_VARIABLE, str(reported)),
        timeout=judge.timeout, log_dir=paths.judge_dir, result_file=reported))
    write_json(paths.judge_dir / "result.json", outcome.to_dict())
    return outcome


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Write a small JSON record atomically, for people and scripts to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n",
                         encoding="utf-8")
    os.replace(temporary, path)
