"""Refusals: an agent or judge call that must not start in this build, and why."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from scylla_build.layout import RunKey

# A refused task's failure message reads "<T:S:N>: not started: <why>", so a
# reporter can tell it from a run that ended in error.
NOT_STARTED = "not started"


class RefusalKind(str, enum.Enum):
    """Why a call was not started; also the stage recorded for its run."""

    RATE_LIMITED = "rate_limited"
    BUDGET_SPENT = "budget_spent"


@dataclass(frozen=True)
class Refusal:
    """A call that must not start in this build, and what to tell the user."""

    kind: RefusalKind
    message: str
    until: float | None = None

    def task_message(self, key: RunKey) -> str:
        """Return the message the refused task fails with."""
        return f"{key}: {NOT_STARTED}: {self.message}"


def is_refusal(message: str) -> bool:
    """Say whether a task failure message is a refusal, not an outcome."""
    return f": {NOT_STARTED}: " in message.split("\n", 1)[0]
