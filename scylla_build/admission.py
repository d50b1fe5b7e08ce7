"""Admission: what an agent or judge call waits for or is refused before it starts.

In order: the shared rate-limit pause (waited out, or refused when it lasts
longer than `max_wait`), a slot under `max_concurrent_agents`, and the spend
budget. Judges wait out the pause too, but take no slot and no budget check:
the agent's work they judge is already paid for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from filelock import FileLock

from scylla_build.budget import Ledger, Spend
from scylla_build.checkpoint import Checkpoint
from scylla_build.experiment import Limits
from scylla_build.layout import ResultsLayout, RunKey
from scylla_build.pause import Pause
from scylla_build.refusal import Refusal
from scylla_build.slot import Slots

# How long an agent waiting for the first known cost sleeps between looks.
_WAIT_SECONDS = 0.2


@dataclass
class Ticket:
    """An admitted agent call: its ledger entry and its slot, until it ends."""

    ledger: Ledger
    key: RunKey
    call: str
    slot: FileLock | None

    def finish(self, attempt: int, cost: float | None) -> Spend:
        """Record the call's cost, free its slot and return the new totals."""
        try:
            return self.ledger.end(self.key, kind="agent", attempt=attempt,
                                   cost=cost, call=self.call)
        finally:
            if self.slot is not None:
                self.slot.release()


class Admission:
    """Gate every agent and judge call of one build."""

    def __init__(self, layout: ResultsLayout, checkpoint: Checkpoint,
                 limits: Limits) -> None:
        self.limits = limits
        self.pause = Pause(layout.state, checkpoint)
        self.ledger = Ledger(layout.state)
        count = limits.max_concurrent_agents
        self.slots = Slots(layout.state / "slots", count) if count else None

    def refusal(self) -> Refusal | None:
        """Refuse at once a run whose agent could not start in this build."""
        return (self.pause.refusal(self.limits.max_wait)
                or self.ledger.refusal(self.limits.budget_usd))

    def agent(self, key: RunKey) -> Ticket | Refusal:
        """Wait until an agent may start; return its ticket, or a refusal."""
        while True:
            refused = self.pause.wait(self.limits.max_wait, str(key))
            if refused is not None:
                return refused
            slot = self.slots.acquire() if self.slots else None
            if self.pause.until() is not None:
                # A limit began while this call waited for its slot.
                _release(slot)
                continue
            started = self.ledger.start(key, self.limits.budget_usd)
            if started is None:
                # No cost is known yet: wait for the agent in flight to report.
                _release(slot)
                time.sleep(_WAIT_SECONDS)
                continue
            if isinstance(started, Refusal):
                _release(slot)
                return started
            return Ticket(self.ledger, key, started, slot)

    def judge(self, key: RunKey) -> Refusal | None:
        """Wait out the pause before a judge starts, or refuse."""
        return self.pause.wait(self.limits.max_wait, str(key))


def _release(slot: FileLock | None) -> None:
    if slot is not None:
        slot.release()
