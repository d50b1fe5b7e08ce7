"""Run records: checkpoint entries with the usage agents reported."""

from __future__ import annotations

import json
from pathlib import Path

from scylla_build.layout import ResultsLayout, RunKey
from scylla_build.record import NOT_STARTED, read_records, read_usage, with_missing


def write_result(results: Path, key: str, value: object) -> None:
    folder = ResultsLayout(results).run(RunKey.parse(key)).agent_dir
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(value))


def test_read_records_joins_entries_and_reported_usage(tmp_path: Path) -> None:
    runs = {"T1": {"s01": {"2": {"status": "passed", "reason": "judged",
                                 "attempt": 2, "agent_duration": 4.5},
                           "10": {"status": "running", "attempt": 1}}},
            "T0": {"s00": {"1": {"status": "error", "reason": "tool_error"}}}}
    write_result(tmp_path, "T1:s01:2", {"cost_usd": 0.1, "input_tokens": 7,
                                        "output_tokens": 3.0, "exit_code": 0})
    records = read_records(ResultsLayout(tmp_path), runs)
    assert [str(record.key) for record in records] == [
        "T0:s00:1", "T1:s01:2", "T1:s01:10"]
    assert records[1].to_json() == {
        "tier": "T1", "subtest": "s01", "run": 2, "status": "passed",
        "reason": "judged", "attempt": 2, "agent_duration": 4.5,
        "cost_usd": 0.1, "input_tokens": 7, "output_tokens": 3}
    assert records[0].cost_usd is None and records[0].attempt is None


def test_read_usage_ignores_what_is_not_a_usage_figure(tmp_path: Path) -> None:
    write_result(tmp_path, "T0:s00:1", {"cost_usd": "free", "input_tokens": -1,
                                        "output_tokens": 2.5})
    path = ResultsLayout(tmp_path).run(RunKey.parse("T0:s00:1")).agent_dir
    assert read_usage(path / "result.json") == {}
    assert read_usage(tmp_path / "missing.json") == {}
    (tmp_path / "list.json").write_text("[1]")
    assert read_usage(tmp_path / "list.json") == {}


def test_with_missing_adds_runs_never_started(tmp_path: Path) -> None:
    runs = {"T0": {"s00": {"2": {"status": "passed"}}}}
    records = with_missing(read_records(ResultsLayout(tmp_path), runs),
                           [RunKey("T0", "s00", 1), RunKey("T0", "s00", 2)])
    assert [(str(r.key), r.status) for r in records] == [
        ("T0:s00:1", NOT_STARTED), ("T0:s00:2", "passed")]
