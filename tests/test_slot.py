"""Agent slots: a cross-process cap on agents running at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from scylla_build.slot import Slots


class Full(Exception):
    """Raised instead of sleeping: every slot was taken."""


def no_sleep(seconds: float) -> None:
    raise Full


def test_slots_hand_out_count_then_wait(tmp_path: Path) -> None:
    slots = Slots(tmp_path / "slots", 2, sleep=no_sleep)
    first, second = slots.acquire(), slots.acquire()
    with pytest.raises(Full):
        slots.acquire()
    first.release()
    third = slots.acquire()
    assert third.lock_file == first.lock_file
    second.release()
    third.release()
