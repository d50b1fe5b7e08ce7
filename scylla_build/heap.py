"""The process heap while doit holds every task of a large experiment.

A 10,000-run experiment is 30,000 doit tasks, each with its dict, actions and
checks, all alive until the process ends. Python's cyclic collector keeps
re-walking these long-lived objects as a no-op build allocates, which cost
about a third of a no-op `doit run` at that size. The experiment and its
tasks create no reference cycles worth collecting, so the collector is paused
while they are built, and what was built is then moved out of its reach
(`gc.freeze`). Collection resumes for everything made afterwards, but less
often: doit then keeps a record and a status per task it checks, so the
survivors of each young collection would trigger ever larger full ones.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between young collections (Python's default is 700). A cycle
# still goes within this many allocations; the heap of a build is hundreds
# of megabytes, against which this delay holds back a few.
YOUNG_THRESHOLD = 50_000


@contextmanager
def long_lived() -> Iterator[None]:
    """Build long-lived objects with the collector paused, then freeze them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        _, middle, old = gc.get_threshold()
        gc.set_threshold(max(YOUNG_THRESHOLD, gc.get_threshold()[0]), middle, old)
        if was_enabled:
            gc.enable()
