"""The durable doit backend: records committed per write, read in one query."""

from __future__ import annotations

from pathlib import Path

from doit.dependency import JSONCodec

from scylla_build.backend import ALL_TASKS, DurableSqliteDB


def _open(path: Path) -> DurableSqliteDB:
    return DurableSqliteDB(str(path), JSONCodec())


def test_set_is_seen_by_another_connection_without_dump(tmp_path: Path) -> None:
    writer = _open(tmp_path / "db")
    writer.set("run:T:s:1", "result:", {"attempt": 1})
    reader = _open(tmp_path / "db")
    assert reader.get("run:T:s:1", "result:") == {"attempt": 1}
    assert reader.in_("run:T:s:1")
    assert not reader.in_("run:T:s:2")
    assert reader.get("run:T:s:2", "result:") is None


def test_every_record_is_read_whatever_the_order_of_access(tmp_path: Path) -> None:
    writer = _open(tmp_path / "db")
    names = [f"judge:T:s:{number}" for number in range(1, 51)]
    for number, name in enumerate(names):
        writer.set(name, "_values_:", {"n": number})
    reader = _open(tmp_path / "db")
    for number, name in reversed(list(enumerate(names))):
        assert reader.get(name, "_values_:") == {"n": number}
        assert reader.get(name, "deps:") is None
        assert reader.in_(name)


def test_remove_leaves_a_tombstone_and_no_record(tmp_path: Path) -> None:
    backend = _open(tmp_path / "db")
    backend.set("run:T:s:1", "result:", 1)
    backend.set("run:T:s:2", "result:", 2)
    reopened = _open(tmp_path / "db")
    assert reopened.in_("run:T:s:1")
    reopened.remove("run:T:s:1")
    assert not reopened.in_("run:T:s:1")
    assert reopened.get("run:T:s:1", "result:") is None
    assert reopened.forgotten_at("run:T:s:1") is not None
    assert reopened.forgotten_at("run:T:s:2") is None
    assert not _open(tmp_path / "db").in_("run:T:s:1")


def test_remove_before_any_read_is_not_undone_by_the_read(tmp_path: Path) -> None:
    _open(tmp_path / "db").set("run:T:s:1", "result:", 1)
    backend = _open(tmp_path / "db")
    backend.remove("run:T:s:1")
    assert not backend.in_("run:T:s:1")


def test_remove_all_forgets_every_task(tmp_path: Path) -> None:
    backend = _open(tmp_path / "db")
    backend.set("run:T:s:1", "result:", 1)
    reopened = _open(tmp_path / "db")
    reopened.remove_all()
    assert not reopened.in_("run:T:s:1")
    assert reopened.forgotten_at("run:T:s:9") == reopened.forgotten_at(ALL_TASKS)
    assert not _open(tmp_path / "db").in_("run:T:s:1")
