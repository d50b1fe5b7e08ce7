"""The collector around long-lived objects: paused, then frozen, then back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from scylla_build.heap import YOUNG_THRESHOLD, long_lived


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.enable()


def test_objects_built_inside_are_frozen_and_collection_resumes() -> None:
    with long_lived():
        assert not gc.isenabled()
        kept = [{"n": number} for number in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] >= YOUNG_THRESHOLD


def test_collection_resumes_after_an_error() -> None:
    with pytest.raises(ValueError), long_lived():
        raise ValueError("bad experiment")
    assert gc.isenabled()


def test_a_paused_collector_stays_paused() -> None:
    gc.disable()
    with long_lived():
        pass
    assert not gc.isenabled()
