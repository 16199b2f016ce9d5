"""Helpers for the column-operation tests: table shape, leftovers, and application clients of one
version each that write (insert + update) in a thread while a migration runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]


def table_shape(conn: Conn, table: str, schema: str = "public") -> list[tuple[Any, ...]]:
    """Columns, constraints, indexes and triggers: what 'exactly as before' compares."""
    name = f"{schema}.{table}"
    columns = conn.execute(
        "select attname, format_type(atttypid, atttypmod), attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) from pg_attribute a "
        "left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum "
        "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
        (name,),
    ).fetchall()
    constraints = conn.execute(
        "select conname, pg_get_constraintdef(oid), convalidated from pg_constraint "
        "where conrelid = %s::regclass order by conname",
        (name,),
    ).fetchall()
    indexes = conn.execute(
        "select indexrelid::regclass::text, indisvalid from pg_index where indrelid = %s::regclass "
        "order by 1",
        (name,),
    ).fetchall()
    triggers = conn.execute(
        "select tgname from pg_trigger where tgrelid = %s::regclass and not tgisinternal "
        "order by 1",
        (name,),
    ).fetchall()
    return [*columns, ("--",), *constraints, ("--",), *indexes, ("--",), *triggers]


def leftovers(conn: Conn, table: str) -> list[str]:
    """Anything liveshift made that should be gone after complete or rollback."""
    return [
        str(r[0])
        for r in conn.execute(
            "select 'column ' || attname from pg_attribute where attrelid = %s::regclass "
            "and attname like '\\_ls\\_%%' and not attisdropped "
            "union all select 'function ' || proname from pg_proc where proname like '\\_ls\\_%%' "
            "union all select 'trigger ' || tgname from pg_trigger where tgname like '\\_ls\\_%%' "
            "union all select 'constraint ' || conname from pg_constraint "
            "where conname like '\\_ls\\_%%' "
            "union all select 'index ' || relname from pg_class where relkind = 'i' "
            "and relname like '\\_ls\\_%%'",
            (f"public.{table}",),
        )
    ]


def version_schemas(conn: Conn) -> list[str]:
    return [
        str(r[0])
        for r in conn.execute(
            "select nspname from pg_namespace where nspname like 'public\\_%' order by 1"
        )
    ]


def columns_of(conn: Conn, table: str, schema: str) -> list[tuple[str, str]]:
    return [
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
    ]


class Writer(threading.Thread):
    """One application client of one version: inserts a row, then updates one of its own rows,
    in a loop, and remembers the value it last wrote into each of its rows. `insert(conn, n)`
    returns (id, value); `update(conn, id, n)` returns the value. Any error is kept."""

    def __init__(
        self,
        url: str,
        search_path: str,
        insert: Callable[[Conn, int], tuple[int, Any]],
        update: Callable[[Conn, int, int], Any],
        *,
        wait_for: str | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.search_path = search_path
        self.insert = insert
        self.update = update
        self.wait_for = wait_for  # a relation that must exist before writing (the view)
        self.written: dict[int, Any] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()
        self._pause = threading.Event()
        self._idle = threading.Event()
        self.writes = 0

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"set search_path = {self.search_path}")
                if self.wait_for is not None:
                    while not self.stop.is_set():
                        row = conn.execute("select to_regclass(%s)", (self.wait_for,)).fetchone()
                        if row is not None and row[0] is not None:
                            break
                        time.sleep(0.01)
                n = 0
                while not self.stop.is_set():
                    if self._pause.is_set():
                        self._idle.set()
                        time.sleep(0.005)
                        continue
                    self._idle.clear()
                    n += 1
                    row_id, value = self.insert(conn, n)
                    self.written[row_id] = value
                    target = list(self.written)[(n * 7919) % len(self.written)]
                    self.written[target] = self.update(conn, target, n)
                    self.writes += 2
        except Exception as exc:  # any error at all: the test asserts there were none
            self.errors.append(f"{self.search_path}: {type(exc).__name__}: {exc}")
        finally:
            self._idle.set()

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=60)
        assert not self.is_alive()


@contextmanager
def writers_paused(*writers: Writer) -> Iterator[None]:
    for w in writers:
        w._idle.clear()
        w._pause.set()
    for w in writers:
        while w.is_alive() and not w._idle.wait(timeout=0.05):
            pass
    try:
        yield
    finally:
        for w in writers:
            w._pause.clear()


def wait_for_writes(writer: Writer, count: int) -> None:
    """Wait until the writer made `count` more writes (or died)."""
    target = writer.writes + count
    deadline = time.monotonic() + 60
    while writer.writes < target and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
