"""When each task of a run is up to date (DESIGN 5), with the reason in words.

doit evaluates these one task at a time in its main process, before it runs a
task and after that task's dependencies ran. Each answer is remembered for the
rest of the process, so a workspace found stale keeps its run and judge stale
even after the workspace task rewrote the checkpoint.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from collections.abc import Callable
from typing import Any

from doit.dependency import UptodateCalculator

from scylla_build.build import Build
from scylla_build.layout import RunKey
from scylla_build.outcome import Status

log = logging.getLogger(__name__)

UP_TO_DATE = None
Reason = str | None


ForgottenAt = Callable[[str], "float | None"]
NEVER_RECORDED = math.inf


class Freshness:
    """Decide and remember, per run, why its tasks must run (None: they need not)."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.forgotten_at: ForgottenAt = lambda name: None
        self._workspace: dict[RunKey, Reason] = {}
        self._run: dict[RunKey, Reason] = {}

    def bind(self, dep_manager: Any) -> None:
        """Read forget tombstones from the durable backend, or fall back."""
        backend = dep_manager.backend
        if hasattr(backend, "forgotten_at"):
            self.forgotten_at = backend.forgotten_at
        else:
            # Another backend keeps no tombstones: a missing record is
            # taken as forgotten, as doit itself would.
            self.forgotten_at = (
                lambda name: None if dep_manager._in(name) else NEVER_RECORDED)

    def workspace(self, key: RunKey) -> Reason:
        if key not in self._workspace:
            self._workspace[key] = (self._workspace_reason(key)
                                    or self._forgotten("workspace", key, "started"))
        return self._workspace[key]

    def run(self, key: RunKey) -> Reason:
        if key not in self._run:
            self._run[key] = (self.workspace(key)
                              or self._forgotten("run", key, "started"))
        return self._run[key]

    def judge(self, key: RunKey) -> Reason:
        """Judge reasons are not remembered: nothing downstream reads them."""
        stale = self.run(key)
        if stale:
            return stale
        entry = self.build.checkpoint.entry(key) or {}
        if entry.get("status") not in (Status.PASSED, Status.FAILED):
            return f"checkpoint: {key} has no verdict yet"
        current = self.build.judge_signature
        recorded = entry.get("judge_signature", "")
        if recorded != current.digest:
            parts = self.build.checkpoint.signature_parts(recorded)
            return current.explain(recorded, parts)
        return self._forgotten("judge", key, "judged")

    def _forgotten(self, step: str, key: RunKey, field: str) -> Reason:
        """Say whether `doit forget` removed this task's record since it last ran.

        A record merely lost in a crash leaves no tombstone: the checkpoint,
        which says the step finished, is trusted then.
        """
        removed = self.forgotten_at(f"{step}:{key}")
        if removed is None:
            return UP_TO_DATE
        entry = self.build.checkpoint.entry(key) or {}
        ran_at = entry.get(field)
        if not isinstance(ran_at, (int, float)) or removed > ran_at:
            if removed == NEVER_RECORDED:
                return "doit holds no record of this task"
            return f"forgotten: doit forget removed {step}:{key}"
        return UP_TO_DATE

    def _workspace_reason(self, key: RunKey) -> Reason:
        entry = self.build.checkpoint.entry(key)
        if entry is None:
            return f"checkpoint: no record of {key}"
        status = entry.get("status")
        if not self.build.agent_done(status):
            return _status_words(key, entry)
        current = self.build.agent_signature(key)
        recorded = entry.get("agent_signature", "")
        if recorded != current.digest:
            parts = self.build.checkpoint.signature_parts(recorded)
            return current.explain(recorded, parts)
        if not os.path.isdir(self.build.workspace_path(key)):
            return "workspace missing"
        return UP_TO_DATE


def _status_words(key: RunKey, entry: dict[str, Any]) -> str:
    status = entry.get("status")
    if status == Status.RUNNING:
        return f"checkpoint: {key} never finished"
    reason = entry.get("reason")
    suffix = f" ({reason})" if reason and reason != "judged" else ""
    return f"checkpoint: {key} {status}{suffix}"


class _Check(UptodateCalculator):  # type: ignore[misc]  # doit ships no types
    """A doit `uptodate` callable whose repr is the reason it is stale."""

    # doit inspects every uptodate callable's signature on every check; a
    # ready-made one spares it resolving `__call__` thousands of times.
    __signature__ = inspect.Signature([
        inspect.Parameter("task", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("values", inspect.Parameter.POSITIONAL_OR_KEYWORD)])

    def __init__(self, freshness: Freshness, key: RunKey) -> None:
        super().__init__()
        self.freshness = freshness
        self.key = key
        self.reason: Reason = "not checked yet"

    def setup(self, dep_manager: Any, tasks_dict: Any) -> None:
        self.freshness.bind(dep_manager)

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        try:
            self.reason = self.decide(values)
        except Exception as err:
            log.warning("%s: could not check %s: %s", task.name, self.key, err)
            self.reason = f"check failed: {err}"
        return self.reason is UP_TO_DATE

    def decide(self, values: dict[str, Any]) -> Reason:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.reason or "up to date"


class WorkspaceCheck(_Check):
    def decide(self, values: dict[str, Any]) -> Reason:
        return self.freshness.workspace(self.key)


class RunCheck(_Check):
    def decide(self, values: dict[str, Any]) -> Reason:
        return self.freshness.run(self.key)


class JudgeCheck(_Check):
    def decide(self, values: dict[str, Any]) -> Reason:
        return self.freshness.judge(self.key)
