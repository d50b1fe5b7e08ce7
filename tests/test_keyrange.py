"""Run keys written compactly and read back."""

from __future__ import annotations

from scylla_build.keyrange import compact_keys, expand_keys
from scylla_build.layout import RunKey


def keys(*written: str) -> list[RunKey]:
    return [RunKey.parse(text) for text in written]


def test_compact_keys_joins_consecutive_runs_of_a_subtest() -> None:
    found = compact_keys(keys("T1:s01:3", "T0:s00:1", "T1:s01:1", "T1:s01:2",
                              "T0:s00:3", "T1:s01:10"))
    assert found == ["T0:s00:1", "T0:s00:3", "T1:s01:1-3", "T1:s01:10"]


def test_compact_keys_drops_duplicates() -> None:
    assert compact_keys(keys("T0:s00:2", "T0:s00:2", "T0:s00:1")) == ["T0:s00:1-2"]


def test_expand_keys_reads_back_what_compact_keys_wrote() -> None:
    original = keys("T0:s00:1", "T0:s00:2", "T0:s00:5", "T2:x.y-z:7", "T2:x.y-z:8")
    expanded = [key for text in compact_keys(original) for key in expand_keys(text)]
    assert expanded == original
