"""The spend ledger and the budget: summed across attempts, refused before a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scylla_build.budget import Ledger, Spend
from scylla_build.layout import RunKey
from scylla_build.refusal import Refusal, RefusalKind

KEYS = [RunKey("T0", "s00", 1), RunKey("T0", "s00", 2), RunKey("T1", "s01", 1),
        RunKey("T1", "s01", 2)]


def spend_one(ledger: Ledger, key: RunKey, cost: float | None,
              budget: float | None = 1.0) -> str | Refusal | None:
    call = ledger.start(key, budget)
    if isinstance(call, str):
        ledger.end(key, kind="agent", attempt=1, cost=cost, call=call)
    return call


def test_three_runs_of_030_fit_one_dollar_and_a_fourth_does_not(
        tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    for key in KEYS[:3]:
        assert isinstance(spend_one(ledger, key, 0.30), str)
    refused = ledger.start(KEYS[3], 1.0)
    assert isinstance(refused, Refusal)
    assert refused.kind == RefusalKind.BUDGET_SPENT
    assert "$0.90 (T0 $0.60, T1 $0.30)" in refused.message
    assert ledger.refusal(1.0) == refused
    assert ledger.refusal(2.0) is None


def test_spend_survives_processes_and_counts_every_attempt(tmp_path: Path) -> None:
    first = Ledger(tmp_path)
    spend_one(first, KEYS[0], 0.25)
    spend_one(first, KEYS[0], 0.5)  # a retried attempt of the same run
    first.end(KEYS[0], kind="judge", attempt=2, cost=0.05)
    spend = Ledger(tmp_path).spend()
    assert spend.total == pytest.approx(0.8)
    assert spend.runs == {"T0:s00:1": pytest.approx(0.8)}
    assert spend.estimate() == pytest.approx(0.55)


def test_agents_in_flight_count_against_the_budget(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    spend_one(ledger, KEYS[0], 0.30)
    assert isinstance(ledger.start(KEYS[1], 1.0), str)  # 0.30 + 1 x 0.30
    assert isinstance(ledger.start(KEYS[2], 1.0), str)  # 0.30 + 2 x 0.30
    assert isinstance(ledger.start(KEYS[3], 1.0), Refusal)  # 0.30 + 3 x 0.30
    assert ledger.spend().in_flight() == 2


def test_calls_of_dead_processes_are_not_in_flight() -> None:
    spend = Spend()
    spend.take({"event": "start", "call": "a", "run": "T0:s:1", "pid": os.getpid()})
    spend.take({"event": "start", "call": "b", "run": "T0:s:2", "pid": 2**22 + 7})
    assert spend.in_flight() == 1


def test_torn_or_unpriced_lines_are_skipped(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    spend_one(ledger, KEYS[0], None)
    with ledger.path.open("ab") as handle:
        handle.write(b'{"event": "end", "run": "T0:s00:1", "cost_usd": 9')
    assert ledger.spend().total == 0.0
    with ledger.path.open("ab") as handle:
        handle.write(b'}\n')
    assert ledger.spend().total == 9.0


def test_no_budget_never_refuses(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    spend_one(ledger, KEYS[0], 100.0, budget=None)
    assert isinstance(ledger.start(KEYS[1], None), str)
    assert ledger.refusal(None) is None


def test_second_agent_waits_until_a_first_cost_is_known(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    first = ledger.start(KEYS[0], 1.0)
    assert isinstance(first, str)
    assert ledger.start(KEYS[1], 1.0) is None  # nothing to estimate by yet
    assert ledger.start(KEYS[1], None) is not None  # no budget, no waiting
    ledger.end(KEYS[0], kind="agent", attempt=1, cost=0.30, call=first)
    assert isinstance(ledger.start(KEYS[1], 1.0), str)
