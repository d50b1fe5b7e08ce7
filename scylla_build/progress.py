"""Progress of a build: runs to do, done and up to date, and the time left.

doit reports tasks; people follow runs. A run is finished when every one of its
tasks in this build has executed, failed or been skipped; it is up to date
when all of them were skipped as up to date.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from dataclasses import dataclass, field

from scylla_build.keyrange import compact_keys
from scylla_build.layout import RunKey

STEPS = ("workspace", "run", "judge")
COUNTED = ("passed", "failed", "error")


@functools.cache  # asked for every task of a build, more than once each
def step_of(task_name: str) -> tuple[str, RunKey] | None:
    """Return the step and run key of a run's task name, else None."""
    step, _, rest = task_name.partition(":")
    if step not in STEPS:
        return None
    try:
        return step, RunKey.parse(rest)
    except ValueError:
        return None


@dataclass
class RunSteps:
    """What happened so far to the tasks of one run in this build."""

    pending: set[str]
    begun: set[str] = field(default_factory=set)
    executed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    ignored: bool = False
    started: float | None = None

    @property
    def ran(self) -> bool:
        return bool(self.executed or self.failures)


@dataclass(frozen=True)
class Finish:
    """A run that finished in this build, as the progress shows it."""

    key: RunKey
    status: str
    reason: str | None
    attempt: int | None
    seconds: float
    workspace_kept: bool

    def describe(self) -> str:
        """Say what became of the run, e.g. `T1:s01:2 failed (timeout) in 4.0s`."""
        reason = f" ({self.reason})" if self.reason not in (None, "judged") else ""
        again = f" on attempt {self.attempt}" if (self.attempt or 1) > 1 else ""
        kept = ", workspace preserved" if self.workspace_kept else ""
        return (f"{self.key} {self.status}{reason}{again} in "
                f"{duration_text(self.seconds)}{kept}")


class Progress:
    """Tally a build's runs as doit reports their tasks."""

    def __init__(self, scope: dict[RunKey, set[str]], todo: set[RunKey]) -> None:
        self.runs = {key: RunSteps(set(steps)) for key, steps in scope.items()}
        self.todo = set(todo)
        self.counts: Counter[str] = Counter()
        self.finished: list[Finish] = []
        self.up_to_date: dict[RunKey, str] = {}
        self.ignored: list[RunKey] = []
        self.slots = 1
        # Kept as they change rather than recounted, so that the work per
        # finished run does not grow with the size of the build.
        self._flying: set[RunKey] = set()
        self._seconds = 0.0

    @property
    def done(self) -> int:
        return len(self.finished)

    @property
    def last(self) -> Finish | None:
        return self.finished[-1] if self.finished else None

    def start(self, step: str, key: RunKey, now: float) -> None:
        """Note that a run's task began executing."""
        steps = self.runs.get(key)
        if steps is None:
            return
        if steps.started is None:
            steps.started = now
        steps.begun.add(step)
        self.todo.add(key)
        if steps.pending:
            self._flying.add(key)
        self.slots = max(self.slots, len(self._flying))

    def resolve(self, step: str, key: RunKey, *, outcome: str,
                failure: str | None = None) -> RunSteps | None:
        """Note a task's end (executed, failed, skipped or ignored).

        Return the run's steps once none of its tasks is pending.
        """
        steps = self.runs.get(key)
        if steps is None or step not in steps.pending:
            return None
        steps.pending.discard(step)
        if outcome == "executed":
            steps.executed.add(step)
        elif outcome == "failed":
            steps.failures.append(failure or f"{step} failed")
        elif outcome == "skipped":
            steps.skipped.add(step)
        else:
            steps.ignored = True
        if steps.pending:
            return None
        self._flying.discard(key)
        return steps

    def finish(self, finish: Finish) -> None:
        """Count a run that finished in this build."""
        self.finished.append(finish)
        self._seconds += finish.seconds
        self.counts[finish.status] += 1
        self.todo.add(finish.key)

    def skip(self, key: RunKey, steps: RunSteps, status: str) -> None:
        """Count a run none of whose tasks executed."""
        self.todo.discard(key)
        if steps.ignored:
            self.ignored.append(key)
        else:
            self.up_to_date[key] = status

    def in_flight(self) -> dict[RunKey, float]:
        """Return the start time of every run executing now."""
        return {key: started for key in self._flying
                if (started := self.runs[key].started) is not None}

    def eta(self, now: float) -> float | None:
        """Estimate the seconds left from the runs finished so far."""
        if not self.finished:
            return None
        mean = self._seconds / self.done
        left = max(0, len(self.todo) - self.done)
        begun = sum(min(now - start, mean) for start in self.in_flight().values())
        return max(0.0, left * mean - begun) / self.slots

    def counts_text(self) -> str:
        """Return `passed P, failed F, error E`."""
        return ", ".join(f"{status} {self.counts[status]}" for status in COUNTED)

    def eta_text(self, now: float) -> str:
        """Say how long is left, or that everything is done."""
        if not self.todo:
            return "nothing to do"
        if self.done >= len(self.todo):
            return f"all {self.done} done"
        left = self.eta(now)
        return "time left unknown" if left is None else (
            f"about {duration_text(left)} left")

    def finish_line(self, finish: Finish, now: float) -> str:
        """Return the plain line printed when a run finishes."""
        return (f"[{self.done}/{len(self.todo)}] {finish.describe()} | "
                f"{self.counts_text()} | {self.eta_text(now)}")

    def up_to_date_line(self) -> str | None:
        """Return one line naming every run skipped as up to date, if any."""
        if not self.up_to_date:
            return None
        count = len(self.up_to_date)
        runs = "1 run" if count == 1 else f"{count} runs"
        kept = "workspace" if count == 1 else "workspaces"
        items = status_items(self.up_to_date)
        return f"-- {runs} up to date, {kept} preserved: {items}"


def status_items(statuses: dict[RunKey, str]) -> str:
    """Write runs and their statuses compactly: `T0:s00:1-3 passed, ...`."""
    items: list[tuple[RunKey, str]] = []
    by_status = itertools.groupby(sorted(statuses, key=statuses.__getitem__),
                                  key=statuses.__getitem__)
    for status, keys in by_status:
        group = list(keys)
        for written in compact_keys(group):
            items.append((_first_key(written), f"{written} {status}"))
    return ", ".join(text for _, text in sorted(items))


def _first_key(written: str) -> RunKey:
    tier, subtest, span = written.split(":")
    return RunKey(tier, subtest, int(span.partition("-")[0]))


def duration_text(seconds: float) -> str:
    """Write a duration for people: `0.4s`, `42s`, `3m05s`, `2h07m`."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
