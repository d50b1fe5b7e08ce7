"""The spend ledger: what every agent and judge call cost, and the budget check.

`.scylla/spend.jsonl` gets one line when an agent starts and one when any
call ends with its cost, appended under a file lock and fsynced. Archived and
limited attempts stay in it, so the spend it sums covers every attempt ever
recorded, across invocations. Each process reads only the lines added since
it last looked.

Before an agent starts, the budget asks whether the next run could exceed
it: the spend so far, plus one estimated run for each agent still in flight
and one for the new run, must stay within `budget_usd`. A run is estimated
at the dearest agent call plus the dearest judge call recorded so far (zero
before any cost is known).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from scylla_build.layout import ResultsLayout, RunKey
from scylla_build.refusal import Refusal, RefusalKind
from scylla_build.usage import number

log = logging.getLogger(__name__)

LEDGER_NAME = "spend.jsonl"
# Sums of floats: a run that lands on the budget exactly still fits.
_TOLERANCE = 1e-9


@dataclass
class Spend:
    """Totals of the ledger: overall, per tier and per run, and calls in flight."""

    total: float = 0.0
    tiers: dict[str, float] = field(default_factory=dict)
    runs: dict[str, float] = field(default_factory=dict)
    dearest: dict[str, float] = field(default_factory=dict)
    open_calls: dict[str, int] = field(default_factory=dict)

    def take(self, line: dict[str, Any]) -> None:
        """Add one ledger line to the totals."""
        call = line.get("call")
        if line.get("event") == "start" and isinstance(call, str):
            self.open_calls[call] = int(line.get("pid", 0))
            return
        if isinstance(call, str):
            self.open_calls.pop(call, None)
        cost = number(line.get("cost_usd"))
        run = line.get("run")
        if cost is None or not isinstance(run, str):
            return
        tier = run.split(":")[0]
        self.total += cost
        self.tiers[tier] = self.tiers.get(tier, 0.0) + cost
        self.runs[run] = self.runs.get(run, 0.0) + cost
        kind = str(line.get("kind", "agent"))
        self.dearest[kind] = max(self.dearest.get(kind, 0.0), cost)

    def estimate(self) -> float:
        """Return what one more run could cost, judging by the dearest so far."""
        return self.dearest.get("agent", 0.0) + self.dearest.get("judge", 0.0)

    def in_flight(self) -> int:
        """Count agents started and not ended whose process still lives."""
        return sum(1 for pid in self.open_calls.values() if _alive(pid))

    def describe(self) -> str:
        """Say the spend and each tier's share, e.g. "$0.90 (T0 $0.60, T1 $0.30)"."""
        tiers = ", ".join(f"{tier} ${cost:.2f}"
                          for tier, cost in sorted(self.tiers.items()))
        return f"${self.total:.2f}" + (f" ({tiers})" if tiers else "")


class Ledger:
    """Append to and sum the spend ledger of one results folder."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LEDGER_NAME
        self.lock_path = state_dir / "spend.lock"
        self._spend = Spend()
        self._offset = 0
        # Threads of one process (`-P thread`) share the totals read so far.
        self._mutex = threading.Lock()

    def spend(self) -> Spend:
        """Return the totals, reading the lines added since the last look."""
        with self._mutex:
            return self._read_new_lines()

    def _read_new_lines(self) -> Spend:
        try:
            with self.path.open("rb") as handle:
                if os.fstat(handle.fileno()).st_size < self._offset:
                    self._spend, self._offset = Spend(), 0  # replaced by hand
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return self._spend
        complete = data[:data.rfind(b"\n") + 1]  # a line still being written waits
        self._offset += len(complete)
        for raw in complete.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                log.warning("skipping a torn line in %s", self.path)
                continue
            if isinstance(line, dict):
                self._spend.take(line)
        return self._spend

    def start(self, key: RunKey, budget: float | None) -> str | Refusal | None:
        """Admit an agent under the budget: its call id, a refusal, or None to wait.

        Until some agent call has reported a cost there is nothing to estimate
        the next one by, so under a budget only one agent runs at a time.
        """
        with self._locked():
            spend = self.spend()
            if budget is not None:
                refusal = _over_budget(spend, budget)
                if refusal is not None:
                    return refusal
                if "agent" not in spend.dearest and spend.in_flight():
                    return None
            call = uuid.uuid4().hex
            self._append({"event": "start", "call": call, "run": str(key),
                          "pid": os.getpid()})
        return call

    def end(self, key: RunKey, *, kind: str, attempt: int, cost: float | None,
            call: str | None = None) -> Spend:
        """Record a finished call and its cost; return the new totals."""
        line: dict[str, Any] = {"event": "end", "run": str(key), "kind": kind,
                                "attempt": attempt, "cost_usd": cost}
        if call is not None:
            line["call"] = call
        with self._locked():
            self._append(line)
            return self.spend()

    def refusal(self, budget: float | None) -> Refusal | None:
        """Refuse a new run at once if the budget could not pay for it."""
        if budget is None:
            return None
        with self._locked():
            return _over_budget(self.spend(), budget)

    def _locked(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(self.lock_path)

    def _append(self, line: dict[str, Any]) -> None:
        data = (json.dumps(line, sort_keys=True) + "\n").encode()
        with self.path.open("ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def read_spend(layout: ResultsLayout) -> Spend:
    """Return the spend of every attempt recorded under a results folder.

    Takes no lock, so it works beside a running build: a line still being
    written is left for the next look.
    """
    return Ledger(layout.state).spend()


def _over_budget(spend: Spend, budget: float) -> Refusal | None:
    """Refuse when the spend plus the runs in flight and one more could exceed."""
    estimate = spend.estimate()
    flying = spend.in_flight()
    if spend.total + (flying + 1) * estimate <= budget + _TOLERANCE and \
            spend.total < budget:
        return None
    left = max(budget - spend.total, 0.0)
    could = (f"${left:.2f} is left and the next run could cost ${estimate:.2f}"
             if left else "nothing is left")
    if flying and left:
        could += f", as could each of the {flying} agents still running"
    return Refusal(RefusalKind.BUDGET_SPENT,
                   f"budget spent: {spend.describe()} of budget_usd = "
                   f"{budget:.2f} recorded; {could}. No new agent starts; raise "
                   "[experiment].budget_usd and run doit again to go on")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    with contextlib.suppress(PermissionError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
    return True
