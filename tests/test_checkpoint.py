"""The checkpoint: atomic, serialised records of run entries (DESIGN 4 and 7)."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from scylla_build import checkpoint as checkpoint_module
from scylla_build.checkpoint import VERSION, Checkpoint, render
from scylla_build.errors import ScyllaError
from scylla_build.layout import ResultsLayout, RunKey

WRITERS = 4
RECORDS_PER_WRITER = 25
COMMIT = "a" * 40


def open_checkpoint(results: Path) -> Checkpoint:
    return Checkpoint(ResultsLayout(results), "demo", COMMIT)


def leftovers(results: Path) -> list[str]:
    return sorted(p.name for p in results.glob("*.tmp"))


def snapshot(results: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads(
        (results / "checkpoint.json").read_text())
    return document


def write_records(results: str, writer: int, fold_bytes: int) -> None:
    """Record RECORDS_PER_WRITER runs of subtest s<writer>, one write each."""
    # Small fold sizes make nearly every record rewrite checkpoint.json.
    checkpoint_module.MIN_FOLD_BYTES = fold_bytes
    checkpoint = open_checkpoint(Path(results))
    for number in range(1, RECORDS_PER_WRITER + 1):
        checkpoint.record(RunKey("T0", f"s{writer}", number),
                          {"status": "passed", "attempt": 1})


def expected_runs() -> dict[str, dict[str, dict[str, object]]]:
    return {f"s{writer}": {str(number): {"status": "passed", "attempt": 1}
                           for number in range(1, RECORDS_PER_WRITER + 1)}
            for writer in range(WRITERS)}


def test_fold_writes_readable_json(tmp_path: Path) -> None:
    checkpoint = open_checkpoint(tmp_path)
    key = RunKey("T1", "s01", 3)
    checkpoint.record(key, {"status": "running", "attempt": 1},
                      signatures={"v1:abc": {"prompt": "p"}})
    checkpoint.fold()
    document = snapshot(tmp_path)
    assert document["version"] == VERSION
    assert (document["experiment"], document["commit"]) == ("demo", COMMIT)
    assert document["runs"] == {"T1": {"s01": {"3": {"status": "running",
                                                     "attempt": 1}}}}
    assert document["signatures"] == {"v1:abc": {"prompt": "p"}}
    assert not checkpoint.journal.exists()
    assert leftovers(tmp_path) == []


def test_snapshot_puts_each_run_on_a_line_of_its_own(tmp_path: Path) -> None:
    checkpoint = open_checkpoint(tmp_path)
    keys = [RunKey("T1", "s01", 1), RunKey("T1", "s01", 2), RunKey("T2", "s01", 1)]
    for key in keys:
        checkpoint.record(key, {"status": "passed", "tokens": {"input": 3},
                                "note": "a \"quoted\"\nline"},
                          signatures={f"v1:{key.tier}": {"prompt": "p"}})
    checkpoint.fold()
    text = (tmp_path / "checkpoint.json").read_text()
    document = snapshot(tmp_path)
    assert text == render(document)
    assert document["runs"] == {
        "T1": {"s01": {"1": passed_entry(), "2": passed_entry()}},
        "T2": {"s01": {"1": passed_entry()}}}
    run_lines = [line for line in text.splitlines() if '"status": "passed"' in line]
    assert [line.split(":")[0].strip() for line in run_lines] == ['"1"', '"2"', '"1"']
    assert all(json.loads(line.strip().rstrip(",").partition(": ")[2])
               == passed_entry() for line in run_lines)
    assert '"v1:T1": {"prompt": "p"}' in text


def passed_entry() -> dict[str, object]:
    return {"status": "passed", "tokens": {"input": 3}, "note": 'a "quoted"\nline'}


def test_record_is_seen_by_a_new_reader_before_fold(tmp_path: Path) -> None:
    key = RunKey("T1", "s01", 1)
    open_checkpoint(tmp_path).record(key, {"status": "passed"})
    assert open_checkpoint(tmp_path).entry(key) == {"status": "passed"}


def test_record_merges_or_replaces(tmp_path: Path) -> None:
    checkpoint = open_checkpoint(tmp_path)
    key = RunKey("T1", "s01", 1)
    checkpoint.record(key, {"status": "running", "attempt": 1, "base": "b"})
    checkpoint.record(key, {"status": "passed", "base": None})
    assert open_checkpoint(tmp_path).entry(key) == {"status": "passed",
                                                    "attempt": 1}
    checkpoint.record(key, {"status": "running", "attempt": 2}, replace=True)
    assert open_checkpoint(tmp_path).entry(key) == {"status": "running",
                                                    "attempt": 2}


def test_entry_is_read_once_reread_refreshes(tmp_path: Path) -> None:
    key = RunKey("T1", "s01", 1)
    reader = open_checkpoint(tmp_path)
    assert reader.entry(key) is None
    open_checkpoint(tmp_path).record(key, {"status": "passed"})
    assert reader.entry(key) is None  # the first read is kept
    reader.reread()
    assert reader.entry(key) == {"status": "passed"}


def test_torn_journal_line_is_skipped(tmp_path: Path) -> None:
    checkpoint = open_checkpoint(tmp_path)
    key = RunKey("T0", "s00", 1)
    checkpoint.record(key, {"status": "passed"})
    with checkpoint.journal.open("ab") as handle:
        handle.write(b'{"run": "T0:s00:1", "fields": {"status": "fa')
    assert open_checkpoint(tmp_path).entry(key) == {"status": "passed"}
    checkpoint.fold()
    assert snapshot(tmp_path)["runs"] == {"T0": {"s00": {"1": {"status": "passed"}}}}


def test_fold_removes_temporaries_of_killed_writers(tmp_path: Path) -> None:
    stale = tmp_path / "checkpoint.json.999.1.tmp"
    stale.write_text('{"half": ')
    checkpoint = open_checkpoint(tmp_path)
    checkpoint.record(RunKey("T0", "s00", 1), {"status": "passed"})
    checkpoint.fold()
    assert leftovers(tmp_path) == []
    assert snapshot(tmp_path)["runs"] == {"T0": {"s00": {"1": {"status": "passed"}}}}


def test_journal_outgrowing_snapshot_folds(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint_module, "MIN_FOLD_BYTES", 0)
    checkpoint = open_checkpoint(tmp_path)
    checkpoint.record(RunKey("T0", "s00", 1), {"status": "passed"})
    assert snapshot(tmp_path)["runs"] == {"T0": {"s00": {"1": {"status": "passed"}}}}


def test_invalid_json_is_refused_with_advice(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.json").write_text('{"version": 1, "runs": ')
    with pytest.raises(ScyllaError, match=r"not valid JSON.*move it away"):
        open_checkpoint(tmp_path).document()


def test_other_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.json").write_text('{"version": 99, "runs": {}}')
    with pytest.raises(ScyllaError, match="has version 99"):
        open_checkpoint(tmp_path).document()


def test_concurrent_threads_all_land(tmp_path: Path) -> None:
    threads = [threading.Thread(target=write_records,
                                args=(str(tmp_path), writer, 256 * 1024))
               for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert open_checkpoint(tmp_path).document()["runs"]["T0"] == expected_runs()


def test_concurrent_processes_all_land_as_valid_json(tmp_path: Path) -> None:
    """Four processes record 25 runs each, folding almost every time."""
    # fork: no other thread runs here, and spawn would re-import for seconds.
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=write_records,
                               args=(str(tmp_path), writer, 0))
               for writer in range(WRITERS)]
    for worker in workers:
        worker.start()
    reads = 0
    while any(worker.is_alive() for worker in workers):
        # Whatever moment a reader picks, checkpoint.json parses.
        if (tmp_path / "checkpoint.json").exists():
            snapshot(tmp_path)
            reads += 1
        time.sleep(0.002)
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * WRITERS
    checkpoint = open_checkpoint(tmp_path)
    checkpoint.fold()
    document = snapshot(tmp_path)
    assert document["runs"] == {"T0": expected_runs()}
    assert document["revision"] == WRITERS * RECORDS_PER_WRITER
    assert leftovers(tmp_path) == []
    assert reads > 0
