"""Application clients, one per version, writing in a thread while a migration runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from tests.operations.catalog import Conn


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
        prepare: bool = True,
    ) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.search_path = search_path
        self.insert = insert
        self.update = update
        self.wait_for = wait_for  # a relation that must exist before writing (the view)
        self.prepare = prepare  # psycopg prepares a statement on the server after 5 runs
        self.written: dict[int, Any] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()
        self._pause = threading.Event()
        self._idle = threading.Event()
        self.writes = 0

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                if not self.prepare:
                    conn.prepare_threshold = None
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
