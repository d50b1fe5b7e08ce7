"""A doit database backend that commits each task's record as it is saved.

doit's own backends write only when the database is closed, so a killed build
forgets every task it finished (DESIGN 10). This one keeps doit's sqlite
layout, commits on every write in WAL mode (about as cheap as a file append),
and remembers when a record was removed, so that a record lost in a crash
can be told apart from one removed by `doit forget`.

doit's sqlite backend reads one task's record per query as each task is
checked; a no-op build checks them all, so this one reads every record in one
query on first use and decodes each when its task is checked. A record that
another process writes after that read is not seen by this build: only a
concurrent `doit forget` could write one, and the build lock keeps other
builds out.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from doit.dependency import SqliteDB

BUSY_TIMEOUT_MS = 30_000
ALL_TASKS = "*"


class DurableSqliteDB(SqliteDB):  # type: ignore[misc]  # doit ships no types
    """doit's sqlite backend, durable per write, with forget tombstones."""

    desc = "sqlite3, committed per task (survives kill -9)"

    def __init__(self, name: str, codec: Any, *, module_name: str | None = None):
        super().__init__(name, codec, module_name=module_name)
        self._forgotten: dict[str, float] | None = None
        # Encoded records not decoded yet, by task id (None: not read yet).
        self._stored: dict[str, str] | None = None

    def _sqlite3(self, name: str) -> sqlite3.Connection:
        conn: sqlite3.Connection = super()._sqlite3(name)
        conn.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("pragma journal_mode = wal")
        conn.execute("pragma synchronous = normal")
        conn.execute("create table if not exists scylla_forgotten "
                     "(task_id text not null primary key, at real not null)")
        conn.commit()
        return conn

    def _get_task_data(self, task_id: str) -> dict[str, Any]:
        text = self._encoded().pop(task_id, None)
        if text is None:
            return {}
        data: dict[str, Any] = self.codec.decode(text)
        return data

    def in_(self, task_id: str) -> bool:
        return task_id in self._cache or task_id in self._encoded()

    def _encoded(self) -> dict[str, str]:
        if self._stored is None:
            cursor = self._conn.cursor()
            cursor.row_factory = None  # plain tuples, no json converter
            cursor.execute("select task_id, cast(task_data as text) from doit")
            self._stored = dict(cursor.fetchall())
        return self._stored

    def set(self, task_id: str, dependency: str, value: Any) -> None:
        super().set(task_id, dependency, value)
        self._conn.execute("insert or replace into doit values (?,?)",
                           (task_id, self.codec.encode(self._cache[task_id])))
        self._conn.commit()
        self._dirty.discard(task_id)

    def remove(self, task_id: str) -> None:
        super().remove(task_id)
        self._encoded().pop(task_id, None)
        self._tombstone(task_id)

    def remove_all(self) -> None:
        super().remove_all()
        self._stored = {}
        self._conn.execute("delete from scylla_forgotten")
        self._tombstone(ALL_TASKS)

    def _tombstone(self, task_id: str) -> None:
        self._conn.execute("insert or replace into scylla_forgotten values (?,?)",
                           (task_id, time.time()))
        self._conn.commit()
        self._forgotten = None

    def forgotten_at(self, task_id: str) -> float | None:
        """Return when a task's record was last removed (epoch seconds), if ever."""
        if self._forgotten is None:
            rows = self._conn.execute("select task_id, at from scylla_forgotten")
            self._forgotten = {row["task_id"]: row["at"] for row in rows}
        at = self._forgotten.get(task_id)
        every = self._forgotten.get(ALL_TASKS)
        candidates = [value for value in (at, every) if value is not None]
        return max(candidates, default=None)
