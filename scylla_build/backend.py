"""A doit database backend that commits each task's record as it is saved.

doit's own backends write only when the database is closed, so a killed build
forgets every task it finished (DESIGN 10). This one keeps doit's sqlite
layout and commits on every write, in WAL mode, where a commit costs about as
much as a file append.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from doit.dependency import SqliteDB

BUSY_TIMEOUT_MS = 30_000


class DurableSqliteDB(SqliteDB):  # type: ignore[misc]  # doit ships no types
    """doit's sqlite backend, made durable per write and safe beside a reader."""

    desc = "sqlite3, committed per task (survives kill -9)"

    def _sqlite3(self, name: str) -> sqlite3.Connection:
        conn: sqlite3.Connection = super()._sqlite3(name)
        conn.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("pragma journal_mode = wal")
        conn.execute("pragma synchronous = normal")
        conn.commit()
        return conn

    def set(self, task_id: str, dependency: str, value: Any) -> None:
        super().set(task_id, dependency, value)
        self._conn.execute("insert or replace into doit values (?,?)",
                           (task_id, self.codec.encode(self._cache[task_id])))
        self._conn.commit()
        self._dirty.discard(task_id)

    def remove(self, task_id: str) -> None:
        super().remove(task_id)
        self._conn.commit()

    def remove_all(self) -> None:
        super().remove_all()
        self._conn.commit()
